// Package sidecar wires meshproxy together: it loads the config file,
// compiles the route table, runs the data plane and the admin listener, and
// applies config changes live (file watch and Reload) — all or nothing.
package sidecar

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/admin"
	"github.com/meshbench/meshbench/proxy/internal/authz"
	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/config"
	"github.com/meshbench/meshbench/proxy/internal/engine"
	"github.com/meshbench/meshbench/proxy/internal/filewatch"
	"github.com/meshbench/meshbench/proxy/internal/identity"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// WatchInterval is how often the config file is re-read while it may be
// changing (filewatch.Loop: after a kernel event on its directory, which
// includes the symlink swaps Kubernetes uses to update mounted ConfigMaps),
// or always where the kernel reports no events.
var WatchInterval = 250 * time.Millisecond

// identityPoll is the same for the certificate, key and CA files: rotation
// must reach new connections within a second.
const identityPoll = 200 * time.Millisecond

// Sidecar is a running meshproxy.
type Sidecar struct {
	path string
	log  *slog.Logger
	reg  *metrics.Registry
	eps  *balance.Registry

	proxy *engine.Proxy
	id    *identity.Source // nil without spec.identity
	admin *admin.Server
	done  chan error

	mu       sync.Mutex // serialises reloads
	cfg      *config.Config
	cfgHash  [32]byte
	reloadOK *metrics.Counter
	reloadKO *metrics.Counter
	lastOK   *metrics.Gauge

	stopWatch chan struct{}
	watchDone chan struct{}
	closeOnce sync.Once
}

// Start loads path and starts serving. It returns once the listeners accept.
func Start(path string, log *slog.Logger) (*Sidecar, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := config.Parse(path, data)
	if err != nil {
		return nil, err
	}
	s := &Sidecar{
		path:      path,
		log:       log,
		reg:       metrics.NewRegistry(),
		eps:       balance.NewRegistry(),
		done:      make(chan error, 1),
		cfg:       cfg,
		cfgHash:   sha256.Sum256(data),
		stopWatch: make(chan struct{}),
		watchDone: make(chan struct{}),
	}
	s.reg.RegisterProcessMetrics()
	s.reloadOK = s.reg.Counter("meshproxy_config_reloads_total", "Config reloads by result.", "result", "ok")
	s.reloadKO = s.reg.Counter("meshproxy_config_reloads_total", "Config reloads by result.", "result", "failed")
	s.lastOK = s.reg.Gauge("meshproxy_config_last_reload_success_timestamp_seconds",
		"Unix time of the last config (re)load that was applied.")
	s.lastOK.Set(time.Now().Unix())
	s.eps.RegisterMetrics(s.reg)

	table, err := s.compile(cfg)
	if err != nil {
		return nil, err
	}
	opts := engineOptions(cfg, log)
	if err := s.loadIdentity(cfg, &opts); err != nil {
		return nil, err
	}
	s.proxy, err = engine.New(opts, table, s.reg)
	if err != nil {
		s.stopIdentity()
		return nil, err
	}
	go func() { s.done <- s.proxy.Run() }()
	select {
	case <-s.proxy.Booted():
	case err := <-s.done:
		s.stopIdentity()
		return nil, fmt.Errorf("start data plane: %w", err)
	}
	if a := cfg.Proxy.Spec.Admin; a != nil && a.Address != "" {
		s.admin, err = admin.Start(a.Address, s.reg, s.proxy.Ready)
		if err != nil {
			s.proxy.Stop()
			s.stopIdentity()
			return nil, err
		}
	}
	log.Info("config loaded", "file", path, "objects", cfg.Summary())
	go s.watch()
	return s, nil
}

// compile builds the route table for cfg, logging its warnings.
func (s *Sidecar) compile(cfg *config.Config) (*route.Table, error) {
	t, err := route.Compile(cfg, s.eps, route.Options{})
	if err != nil {
		return nil, err
	}
	for _, w := range t.Warnings {
		s.log.Warn("config", "file", s.path, "warning", w)
	}
	return t, nil
}

func engineOptions(cfg *config.Config, log *slog.Logger) engine.Options {
	sp := &cfg.Proxy.Spec
	o := engine.Options{
		EventLoops:          sp.EventLoops,
		MaxHeaderBytes:      sp.Limits.MaxHeaderBytes,
		MaxBufferedBytes:    sp.Limits.MaxBufferedBytes,
		MaxConnections:      sp.Limits.MaxConnections,
		HeaderReadTimeout:   sp.Timeouts.HeaderRead,
		IdleTimeout:         sp.Timeouts.Idle,
		UpstreamIdleTimeout: sp.Timeouts.UpstreamIdle,
		ConnectTimeout:      sp.Timeouts.Connect,
		RequestTimeout:      sp.Timeouts.Request,
		Logger:              log,
	}
	switch sp.HTTP.HeadersWithUnderscores {
	case config.HeadersWithUnderscoresReject:
		o.HeadersWithUnderscores = engine.UnderscoreReject
	case config.HeadersWithUnderscoresAllow:
		o.HeadersWithUnderscores = engine.UnderscoreAllow
	default: // validated: drop
		o.HeadersWithUnderscores = engine.UnderscoreDrop
	}
	o.MeshHTTP2 = sp.HTTP.MeshProtocol == config.MeshProtocolH2
	if sp.Outbound != nil {
		o.OutboundAddr = sp.Outbound.Address
	}
	if sp.Inbound != nil {
		o.InboundAddr = sp.Inbound.Address
	}
	return o
}

// Registry exposes the metrics registry (tests read it).
func (s *Sidecar) Registry() *metrics.Registry { return s.reg }

// AdminAddr is the bound admin address, "" without an admin listener.
func (s *Sidecar) AdminAddr() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.Addr()
}

// Done delivers the data plane's exit (nil after a clean stop).
func (s *Sidecar) Done() <-chan error { return s.done }

// EventLoops is spec.eventLoops as configured (0 = one per core).
func (s *Sidecar) EventLoops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Proxy.Spec.EventLoops
}

// DrainTimeout is the configured drain budget for SIGTERM.
func (s *Sidecar) DrainTimeout() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.cfg.Proxy.Spec.Timeouts.Drain; d > 0 {
		return d
	}
	return 15 * time.Second
}

// Reload re-reads the config file and applies it if — and only if — the
// whole file is valid and compiles. A bad file leaves the running config in
// place; the reason is logged, counted and returned.
func (s *Sidecar) Reload(why string) error {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return s.reloadFailed(why, fmt.Errorf("read config: %w", err))
	}
	return s.apply(why, data)
}

func (s *Sidecar) apply(why string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := config.Parse(s.path, data)
	if err != nil {
		return s.reloadFailed(why, err)
	}
	if err := staticChanged(s.cfg, cfg); err != nil {
		return s.reloadFailed(why, err)
	}
	table, err := s.compile(cfg)
	if err != nil {
		return s.reloadFailed(why, err)
	}
	s.proxy.SetTable(table)
	// Forget endpoints the new config dropped; requests still holding one
	// keep their pointer, so nothing in flight is disturbed.
	s.eps.Retain(table.Endpoints())
	s.cfg, s.cfgHash = cfg, sha256.Sum256(data)
	s.reloadOK.Inc()
	s.lastOK.Set(time.Now().Unix())
	s.log.Info("config reloaded", "trigger", why, "objects", cfg.Summary())
	return nil
}

func (s *Sidecar) reloadFailed(why string, err error) error {
	s.reloadKO.Inc()
	s.log.Error("config reload rejected; keeping the running config", "trigger", why, "err", err)
	return err
}

// staticChanged rejects changes to the Proxy document: listeners, limits
// and timeouts are fixed for the life of the process, so such a file is
// refused as a whole rather than half-applied.
func staticChanged(old, cur *config.Config) error {
	a, b := old.Proxy.Spec, cur.Proxy.Spec
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("%s: Proxy %s: spec changed; listeners, limits and timeouts apply only at start: restart meshproxy to change them",
			cur.Source, cur.Proxy.Metadata.Name)
	}
	return nil
}

// watch re-reads the file when it may have changed (filewatch.Loop: kernel
// events where available, every WatchInterval otherwise) and reloads when
// its content did.
func (s *Sidecar) watch() {
	defer close(s.watchDone)
	var lastErrHash [32]byte
	// A config is right or wrong by its content alone, so a poll never
	// asks to be retried: only a change to the file can fix a bad one.
	filewatch.Loop(s.stopWatch, []string{s.path}, WatchInterval, func() (retry bool) {
		data, err := os.ReadFile(s.path)
		if err != nil {
			return false // mid-replace, or removed: keep the running config
		}
		h := sha256.Sum256(data)
		s.mu.Lock()
		same := bytes.Equal(h[:], s.cfgHash[:])
		s.mu.Unlock()
		if same || h == lastErrHash {
			return false // unchanged, or the same bad content already reported
		}
		if err := s.apply("file change", data); err != nil {
			lastErrHash = h
		}
		return false
	}, func(m filewatch.Mode) { s.log.Debug("watching the config file", "path", s.path, "mode", m) })
}

// Shutdown drains the data plane (see engine.Proxy.Shutdown), then closes
// the admin listener.
func (s *Sidecar) Shutdown(ctx context.Context) error {
	s.stopWatching()
	err := s.proxy.Shutdown(ctx)
	s.eps.Close() // the recovery prober: drained requests no longer need it
	if s.admin != nil {
		_ = s.admin.Close()
	}
	return err
}

// Close stops everything at once.
func (s *Sidecar) Close() error {
	s.stopWatching()
	s.proxy.Stop()
	s.eps.Close()
	if s.admin != nil {
		return s.admin.Close()
	}
	return nil
}

func (s *Sidecar) stopWatching() {
	s.closeOnce.Do(func() {
		close(s.stopWatch)
		<-s.watchDone
		s.stopIdentity()
	})
}

// loadIdentity loads the proxy's SPIFFE identity and inbound authorization
// when the Proxy document names them, and starts watching the files:
// rotated certificates apply to new connections within a second.
func (s *Sidecar) loadIdentity(cfg *config.Config, o *engine.Options) error {
	spec := &cfg.Proxy.Spec
	if spec.Identity == nil {
		return nil
	}
	id, err := identity.Load(spec.Identity.CertFile, spec.Identity.KeyFile, spec.Identity.CAFile)
	if err != nil {
		return fmt.Errorf("%s: Proxy %s: spec.identity: %w", cfg.Source, cfg.Proxy.Metadata.Name, err)
	}
	if spec.Inbound != nil && len(spec.Inbound.Authorization) > 0 {
		rules := make([]authz.Rule, len(spec.Inbound.Authorization))
		for i, r := range spec.Inbound.Authorization {
			rules[i] = authz.Rule{Principals: r.Principals, Paths: r.Paths, Methods: r.Methods}
		}
		if o.Authz, err = authz.Compile(rules); err != nil {
			return fmt.Errorf("%s: Proxy %s: spec.inbound.%w", cfg.Source, cfg.Proxy.Metadata.Name, err)
		}
	}
	o.Identity = id
	s.id = id
	s.reg.GaugeFunc("meshproxy_identity_cert_expiry_seconds",
		"Seconds until the proxy's own certificate expires.",
		func() float64 { return time.Until(id.NotAfter()).Seconds() })
	rotations := s.reg.Counter("meshproxy_identity_reloads_total", "Identity files reloaded by result.", "result", "ok")
	rotationErrors := s.reg.Counter("meshproxy_identity_reloads_total", "Identity files reloaded by result.", "result", "failed")
	id.Start(identityPoll, func() {
		rotations.Inc()
		s.log.Info("identity reloaded", "id", id.ID(), "expires", id.NotAfter())
	}, func(err error) {
		rotationErrors.Inc()
		s.log.Error("identity reload failed; keeping the current certificate", "err", err)
	})
	s.log.Info("identity loaded", "id", id.ID(), "expires", id.NotAfter())
	return nil
}

func (s *Sidecar) stopIdentity() {
	if s.id != nil {
		s.id.Stop()
	}
}
