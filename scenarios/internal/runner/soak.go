package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshbench/meshbench/results/aggregate"
	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/certs"
	"github.com/meshbench/meshbench/scenarios/echo"
	"github.com/meshbench/meshbench/scenarios/internal/procstat"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// soakHeader is sent by a soak's load and slow reader; the soak route's
// odd generations match on it, so every request shows that the rewritten
// route is the one applied.
const (
	soakHeader    = "x-meshbench-soak"
	soakRouteName = "soak-reload"
	// maxSoakErrors bounds the error messages kept per disturbance.
	maxSoakErrors = 5
	// soakSettle bounds the wait after the load for the proxies' metrics
	// to show the last reload and rotation (the config file is polled
	// every 250 ms, the identity files every 200 ms).
	soakSettle = 3 * time.Second
)

// soakRoute is the HTTPRoute a soak rewrites on every reload: generation
// gen of a rule on Service svc that sends everything to svc itself. Odd
// generations match the soak header (which the load sends) and weigh 2,
// even ones match any request and weigh 1: each rewrite changes what the
// proxy evaluates for every request, and a route applied wrong answers 404.
func soakRoute(svc string, port, gen int) map[string]any {
	rule := map[string]any{
		"backendRefs": []any{map[string]any{"name": svc, "port": port, "weight": 1 + gen%2}},
	}
	if gen%2 == 1 {
		rule["matches"] = []any{map[string]any{
			"path":    map[string]any{"type": "PathPrefix", "value": "/"},
			"headers": []any{map[string]any{"name": soakHeader, "value": "1"}},
		}}
	}
	return map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{
			"name": soakRouteName, "namespace": namespace,
			"annotations": map[string]any{"meshbench.dev/soak-generation": strconv.Itoa(gen)},
		},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"group": "", "kind": "Service", "name": svc, "port": port}},
			"rules":      []any{rule},
		},
	}
}

// slot is one proxy of the soak's target and the process running it now
// (a kill replaces it).
type slot struct {
	name, admin string
	proc        *process
	up          bool
	killed      int
	restarts    []float64
	samples     []schema.RSSSample
}

// counters are one proxy's reload counters, read from its /metrics.
type counters struct {
	configOK, configFailed, identityOK, identityFailed float64
}

// soak runs a soak's disturbances and RSS sampling beside one step's load.
type soak struct {
	r     *run
	t     *target
	spec  scenario.Soak
	dur   time.Duration
	start time.Time
	ctx   context.Context
	stopF context.CancelFunc
	wg    sync.WaitGroup

	// certMu keeps a rotation and a pod's restart apart: a sidecar must not
	// start on a key and a certificate of two different rotations.
	certMu sync.Mutex

	mu     sync.Mutex
	slots  []*slot
	res    schema.Soak
	before []counters
	errs   []string // reading metrics
}

// startSoak starts the soak of t's step: disturbances, slow reader and RSS
// sampling, timed from now (the start of the measured load).
func (r *run) startSoak(t *target) *soak {
	k := r.sc.Soak
	s := &soak{r: r, t: t, spec: k, dur: r.sc.Load.Duration, start: time.Now()}
	s.ctx, s.stopF = context.WithCancel(context.Background())
	for i, p := range t.proxies {
		admin := ""
		if i < len(t.admins) {
			admin = t.admins[i]
		}
		s.slots = append(s.slots, &slot{name: t.names[i], admin: admin, proc: p, up: true})
	}
	s.res = schema.Soak{
		ExpectedFailuresPerKill: k.Kill.ExpectedFailures,
		Reloads:                 events(k.Reload, 0, s.dur),
		Rotations:               events(k.Rotate, 0, s.dur),
		Kills:                   schema.SoakKills{SoakEvents: events(k.Kill.Every, k.Kill.Down, s.dur), DownS: k.Kill.Down.Seconds()},
		SlowReader:              schema.SoakSlowReader{Size: k.SlowReader.Size, RateBPS: k.SlowReader.Rate},
	}
	s.before = s.readCounters()

	s.wg.Add(1)
	go s.sampleRSS()
	if k.Reload > 0 {
		s.periodic(scenario.Planned(k.Reload, 0, s.dur), s.reload)
	}
	if k.Rotate > 0 {
		s.periodic(scenario.Planned(k.Rotate, 0, s.dur), s.rotate)
	}
	if k.Kill.Every > 0 && len(t.pods) > 1 {
		pod := t.pods[len(t.pods)-1]
		s.res.Kills.Pod = fmt.Sprintf("%s + echo %s", t.names[pod.proxy], pod.echo.addr)
		s.periodic(scenario.Planned(k.Kill.Every, k.Kill.Down, s.dur), func(i int) { s.kill(i, pod) })
	}
	if k.SlowReader.Size > 0 {
		s.wg.Add(1)
		go s.slowReader(strings.TrimSuffix(strings.TrimPrefix(t.url, "http://"), r.sc.Load.Path), t.host)
	}
	return s
}

func events(every, tail, dur time.Duration) schema.SoakEvents {
	return schema.SoakEvents{EveryS: every.Seconds(), Planned: len(scenario.Planned(every, tail, dur)), AtS: []float64{}}
}

// since is the time from the soak's start in seconds, to the millisecond.
func (s *soak) since() float64 { return math.Round(time.Since(s.start).Seconds()*1000) / 1000 }

// periodic runs fn(0), fn(1), ... at the planned offsets from the start,
// one after another, until the soak stops.
func (s *soak) periodic(at []time.Duration, fn func(i int)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for i, a := range at {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(time.Until(s.start.Add(a))):
			}
			fn(i)
		}
	}()
}

func addErr(list []string, at float64, err error) []string {
	if len(list) >= maxSoakErrors {
		return list
	}
	return append(list, fmt.Sprintf("at %.1fs: %v", at, err))
}

// reload rewrites the client sidecar's config with the next generation of
// the soak route.
func (s *soak) reload(i int) {
	at := s.since()
	tp := s.r.tp
	conf := tp.confs[s.t.client]
	objs := append([]any(nil), conf.objs...)
	replaced := false
	for j, o := range objs {
		if m, ok := o.(map[string]any); ok && m["kind"] == "HTTPRoute" && objMeta(m)["name"] == soakRouteName {
			objs[j], replaced = soakRoute(s.r.sc.Load.Service, tp.backend(s.r.sc.Load.Service).Port, i+1), true
		}
	}
	var err error
	if !replaced {
		err = fmt.Errorf("the client sidecar's config has no HTTPRoute %s", soakRouteName)
	} else {
		_, err = tp.writeProxyConfig(s.t.client, conf.proxy, conf.id, objs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.res.Reloads.Errors = addErr(s.res.Reloads.Errors, at, err)
		return
	}
	s.res.Reloads.Done++
	s.res.Reloads.AtS = append(s.res.Reloads.AtS, at)
}

func objMeta(o map[string]any) map[string]any {
	m, _ := o["metadata"].(map[string]any)
	return m
}

// rotate issues new leaf certificates to every identity, under the same CA,
// where the sidecars read them.
func (s *soak) rotate(int) {
	at := s.since()
	tp := s.r.tp
	s.certMu.Lock()
	_, err := certs.Generate(certs.Options{Dir: tp.certs, TrustDomain: trustDomain, Identities: tp.certIdentities()})
	s.certMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.res.Rotations.Errors = addErr(s.res.Rotations.Errors, at, err)
		return
	}
	s.res.Rotations.Done++
	s.res.Rotations.AtS = append(s.res.Rotations.AtS, at)
}

// kill SIGKILLs the pod's sidecar and echo, waits Kill.Down, and starts
// both again on the same addresses (its restart is not cut short by the
// end of the run: the pod is back before the result is written).
func (s *soak) kill(i int, p *pod) {
	sl := s.slots[p.proxy]
	if i > 0 {
		s.recordServed(p)
	}
	at := s.since()
	s.mu.Lock()
	sidecar := sl.proc
	sl.up = false
	sl.killed++
	s.mu.Unlock()
	s.r.sup.kill(sidecar)
	s.r.sup.kill(p.echo.proc)
	s.mu.Lock()
	s.res.Kills.Done++
	s.res.Kills.AtS = append(s.res.Kills.AtS, at)
	s.mu.Unlock()

	select {
	case <-s.ctx.Done():
	case <-time.After(s.spec.Kill.Down):
	}
	fail := func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.res.Kills.Errors = addErr(s.res.Kills.Errors, s.since(), fmt.Errorf("restart: %w", err))
	}
	// The restart's readiness waits are bounded by readyWithin, not by the
	// soak's end.
	ctx := context.Background()
	s.certMu.Lock()
	defer s.certMu.Unlock()
	e, err := s.r.sup.restart(p.echo.proc, fmt.Sprintf("%s-r%d", p.echo.proc.name, i+1))
	if err != nil {
		fail(err)
		return
	}
	p.echo.proc = e
	if err := waitReady(ctx, e, readyWithin, "TCP connect "+p.echo.addr, tcpCheck(p.echo.addr)); err != nil {
		fail(err)
		return
	}
	sc, err := s.r.sup.restart(sidecar, fmt.Sprintf("%s-r%d", sidecar.name, i+1))
	if err != nil {
		fail(err)
		return
	}
	ready := "http://" + p.admin + "/ready"
	if err := waitReady(ctx, sc, readyWithin, "GET "+ready, httpCheck(ready)); err != nil {
		fail(err)
		return
	}
	back := s.since()
	s.mu.Lock()
	defer s.mu.Unlock()
	p.sidecar, sl.proc, sl.up = sc, sc, true
	sl.restarts = append(sl.restarts, back)
	s.res.Kills.Restarted++
	s.res.Kills.ReadyAtS = append(s.res.Kills.ReadyAtS, back)
}

// recordServed reads how many requests the pod's restarted echo has
// served: proof that traffic came back to it after the restart.
func (s *soak) recordServed(p *pod) {
	s.mu.Lock()
	restarted := s.res.Kills.Restarted > len(s.res.Kills.ServedAfterRestart)
	s.mu.Unlock()
	if !restarted {
		return
	}
	n, err := echoRequests(p.echo.addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.res.Kills.Errors = addErr(s.res.Kills.Errors, s.since(), fmt.Errorf("echo /stats: %w", err))
		n = 0
	}
	s.res.Kills.ServedAfterRestart = append(s.res.Kills.ServedAfterRestart, n)
}

func echoRequests(addr string) (uint64, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Requests uint64 `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("%s/stats: %w", addr, err)
	}
	return st.Requests, nil
}

// sampleRSS reads every live proxy's VmRSS now and every RSS.Every.
func (s *soak) sampleRSS() {
	defer s.wg.Done()
	tick := time.NewTicker(s.spec.RSS.Every)
	defer tick.Stop()
	for {
		at := s.since()
		s.mu.Lock()
		for _, sl := range s.slots {
			if !sl.up {
				continue
			}
			if kib, err := procstat.RSSKiB(sl.proc.pid()); err == nil {
				sl.samples = append(sl.samples, schema.RSSSample{TS: at, MiB: math.Round(float64(kib)/1024*1000) / 1000})
			}
		}
		s.mu.Unlock()
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// slowReader asks for Size-byte responses on one keep-alive connection to
// addr and reads each at Rate bytes/s, checking every byte against the
// echo's pattern, until the soak stops. A failed exchange (error, wrong
// status or byte, a read stalled for 30 s) is counted and the reader starts
// again on a new connection.
func (s *soak) slowReader(addr, host string) {
	defer s.wg.Done()
	size, rate := s.spec.SlowReader.Size, s.spec.SlowReader.Rate
	want := echo.Body(size)
	req := fmt.Sprintf("GET /?size=%d HTTP/1.1\r\nHost: %s\r\n%s: 1\r\n\r\n", size, host, soakHeader)
	chunk := max(rate/10, 1) // ten reads a second
	buf := make([]byte, chunk)
	var conn net.Conn
	var br *bufio.Reader
	closeConn := func() {
		if conn != nil {
			conn.Close()
			conn = nil
		}
	}
	var connMu sync.Mutex
	defer func() {
		connMu.Lock()
		closeConn()
		connMu.Unlock()
	}()
	// Closing the connection is what ends a read when the soak stops.
	stopped := make(chan struct{})
	go func() {
		select {
		case <-s.ctx.Done():
			connMu.Lock()
			closeConn()
			connMu.Unlock()
		case <-stopped:
		}
	}()
	defer close(stopped)
	failed := func(err error) {
		if s.ctx.Err() != nil {
			return // cut by the end of the run, not a failure
		}
		s.mu.Lock()
		s.res.SlowReader.Failures++
		s.res.SlowReader.Errors = addErr(s.res.SlowReader.Errors, s.since(), err)
		s.mu.Unlock()
		connMu.Lock()
		closeConn()
		connMu.Unlock()
		select {
		case <-s.ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	for s.ctx.Err() == nil {
		connMu.Lock()
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				connMu.Unlock()
				failed(fmt.Errorf("dial %s: %w", addr, err))
				continue
			}
			// A small receive buffer, so that reading slowly really
			// holds the proxy back instead of the kernel absorbing it.
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(16 << 10)
			}
			conn, br = c, bufio.NewReaderSize(c, 4096)
		}
		c := conn
		connMu.Unlock()
		if c == nil {
			return // stopped
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			failed(fmt.Errorf("send: %w", err))
			continue
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			failed(fmt.Errorf("response head: %w", err))
			continue
		}
		if resp.StatusCode != 200 || resp.ContentLength != int64(size) {
			resp.Body.Close()
			failed(fmt.Errorf("status %d, content-length %d (want 200, %d)", resp.StatusCode, resp.ContentLength, size))
			continue
		}
		began := time.Now()
		got := 0
		var rerr error
		for got < size {
			n, err := io.ReadFull(resp.Body, buf[:min(chunk, size-got)])
			if n > 0 && !bytes.Equal(buf[:n], want[got:got+n]) {
				rerr = fmt.Errorf("body differs from the echo's pattern within bytes %d-%d", got, got+n)
				break
			}
			got += n
			s.mu.Lock()
			s.res.SlowReader.Bytes += uint64(n)
			s.mu.Unlock()
			if err != nil {
				rerr = fmt.Errorf("body cut after %d of %d bytes: %w", got, size, err)
				break
			}
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			// Paced from the response's start, so the rate holds on
			// average whatever each read took.
			due := began.Add(time.Duration(float64(got) / float64(rate) * float64(time.Second)))
			select {
			case <-s.ctx.Done():
				resp.Body.Close()
				return
			case <-time.After(time.Until(due)):
			}
		}
		resp.Body.Close()
		if rerr != nil {
			failed(rerr)
			continue
		}
		s.mu.Lock()
		s.res.SlowReader.Responses++
		s.mu.Unlock()
		if resp.Close {
			connMu.Lock()
			closeConn()
			connMu.Unlock()
		}
	}
}

// readCounters reads every live proxy's reload counters (zero values and
// an error noted for a proxy that does not answer).
func (s *soak) readCounters() []counters {
	out := make([]counters, len(s.slots))
	client := &http.Client{Timeout: 2 * time.Second}
	for i, sl := range s.slots {
		s.mu.Lock()
		up, admin := sl.up, sl.admin
		s.mu.Unlock()
		if !up || admin == "" {
			continue
		}
		c, err := readReloadCounters(client, admin)
		if err != nil {
			s.mu.Lock()
			s.errs = addErr(s.errs, s.since(), err)
			s.mu.Unlock()
			continue
		}
		out[i] = c
	}
	return out
}

func readReloadCounters(client *http.Client, admin string) (counters, error) {
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		return counters{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return counters{}, err
	}
	text := string(body)
	return counters{
		configOK:       metricValue(text, "meshproxy_config_reloads_total", `result="ok"`),
		configFailed:   metricValue(text, "meshproxy_config_reloads_total", `result="failed"`),
		identityOK:     metricValue(text, "meshproxy_identity_reloads_total", `result="ok"`),
		identityFailed: metricValue(text, "meshproxy_identity_reloads_total", `result="failed"`),
	}, nil
}

// metricValue is the value of the series of name whose labels include
// label (k="v") in a Prometheus text exposition; 0 when there is none.
func metricValue(text, name, label string) float64 {
	for line := range strings.SplitSeq(text, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok || !strings.Contains(","+labels+",", ","+label+",") {
			continue
		}
		if f, err := strconv.ParseFloat(strings.Fields(value)[0], 64); err == nil {
			return f
		}
	}
	return 0
}

// stop ends the soak (waiting for a pod being restarted), reads what the
// proxies counted, judges every proxy's RSS and returns the record; the
// caller adds the load's verdict (aggregate.JudgeSoak).
func (s *soak) stop() *schema.Soak {
	s.stopF()
	s.wg.Wait()
	if p := s.lastPod(); p != nil {
		s.recordServed(p)
	}
	// The last reload or rotation may still be on its way into the
	// proxies: wait until they show it, briefly.
	var after []counters
	deadline := time.Now().Add(soakSettle)
	for {
		after = s.readCounters()
		if s.applied(after) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res := s.res
	res.Reloads.Applied, res.Reloads.Rejected = map[string]int{}, map[string]int{}
	res.Rotations.Applied, res.Rotations.Rejected = map[string]int{}, map[string]int{}
	rule := aggregate.RSSRule{
		WarmS: s.spec.RSS.Warm.Seconds(), WindowS: s.spec.RSS.Window.Seconds(), EndS: s.dur.Seconds(),
		MaxGrowthPercent: float64(s.spec.RSS.MaxGrowth), MaxGrowthMiB: s.spec.RSS.MaxGrowthMiB,
	}
	for i, sl := range s.slots {
		if sl.admin != "" && sl.killed == 0 {
			// A restarted proxy's counters started again from 0.
			if s.spec.Reload > 0 && i == 0 {
				res.Reloads.Applied[sl.name] = int(after[i].configOK - s.before[i].configOK)
				res.Reloads.Rejected[sl.name] = int(after[i].configFailed - s.before[i].configFailed)
			}
			if s.spec.Rotate > 0 {
				res.Rotations.Applied[sl.name] = int(after[i].identityOK - s.before[i].identityOK)
				res.Rotations.Rejected[sl.name] = int(after[i].identityFailed - s.before[i].identityFailed)
			}
		}
		r := schema.SoakRSS{Name: sl.name, Samples: sl.samples, RestartsAtS: sl.restarts}
		if r.Samples == nil {
			r.Samples = []schema.RSSSample{}
		}
		aggregate.JudgeRSS(&r, rule)
		if sl.killed > 0 {
			n := len(sl.restarts)
			r.Judged = false
			r.Note = fmt.Sprintf("restarted %d %s by the soak's kills: shown, not judged (each incarnation starts afresh)", n, plural(n, "time", "times"))
			if n < sl.killed {
				r.Note = fmt.Sprintf("killed %d times, restarted %d: shown, not judged", sl.killed, n)
			}
		}
		res.RSS = append(res.RSS, r)
	}
	for _, e := range s.errs {
		res.Reloads.Errors = addErrText(res.Reloads.Errors, "metrics: "+e)
	}
	return &res
}

func addErrText(list []string, e string) []string {
	if len(list) >= maxSoakErrors {
		return list
	}
	return append(list, e)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// lastPod is the pod the kills restart, when there were kills.
func (s *soak) lastPod() *pod {
	if s.res.Kills.Done == 0 || len(s.t.pods) == 0 {
		return nil
	}
	return s.t.pods[len(s.t.pods)-1]
}

// applied reports whether the proxies' counters show every reload (client
// sidecar) and rotation (every proxy never restarted) done so far.
func (s *soak) applied(after []counters) bool {
	for i, sl := range s.slots {
		if sl.admin == "" || sl.killed > 0 {
			continue
		}
		if i == 0 && int(after[i].configOK-s.before[i].configOK) < s.res.Reloads.Done {
			return false
		}
		if s.spec.Rotate > 0 && int(after[i].identityOK-s.before[i].identityOK) < s.res.Rotations.Done {
			return false
		}
	}
	return true
}

// soakLine summarises a soak step for its progress line.
func soakLine(k *schema.Soak) string {
	verdict := "ok"
	if !k.OK {
		verdict = "FAILED"
	}
	flat := 0
	judged := 0
	for _, r := range k.RSS {
		if r.Judged {
			judged++
			if r.Flat {
				flat++
			}
		}
	}
	return fmt.Sprintf("soak %s: reloads %d/%d, rotations %d/%d, kills %d/%d (back %d), slow reader %.1f MiB in %d responses, failures %d (budget %d), RSS flat %d/%d",
		verdict, k.Reloads.Done, k.Reloads.Planned, k.Rotations.Done, k.Rotations.Planned, k.Kills.Done, k.Kills.Planned, k.Kills.Restarted,
		float64(k.SlowReader.Bytes)/(1<<20), k.SlowReader.Responses, k.Failures, k.FailureBudget, flat, judged)
}
