// Package peers prepares the one-hop reverse proxies the benchmark runner
// measures beside meshproxy: nginx, HAProxy, Envoy and linkerd2-proxy, each
// found on PATH and configured alike (a plaintext listener, round-robin
// over the upstream echo servers with keep-alive upstream connections, no
// access log, one worker per core).
//
// The listener speaks the protocol the load does (Options.Protocol):
// HTTP/1.1; h2, HTTP/2 as h2c with prior knowledge, forwarded as HTTP/1.1
// (as meshproxy forwards it); or grpc, h2c forwarded as HTTP/2 (gRPC needs
// it end to end). nginx and HAProxy carry all three, Envoy HTTP/1.1 only
// (scenario's capability table says so too).
//
// Prepare writes the configuration into a scratch directory and returns a
// command line that runs the peer in the foreground, so the runner owns the
// process (and its process group: nginx's workers are its children).
//
// linkerd2-proxy cannot be run this way; Prepare says why (ErrUnsupported).
package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is wrapped by Find when the peer's binary is not on PATH.
var ErrNotFound = errors.New("not found on PATH")

// ErrUnsupported is wrapped by Prepare and Check when the peer cannot run as
// a one-hop proxy here; the error's text says why.
var ErrUnsupported = errors.New("unsupported")

// Options describe the one hop.
type Options struct {
	Listen    string   // "127.0.0.1:PORT" the peer listens on (plaintext)
	Upstreams []string // "127.0.0.1:PORT" echo servers, round-robin
	Workers   int      // worker processes/threads; 0: runtime.NumCPU()
	Dir       string   // scratch directory for config, pid, logs (must exist)
	// Protocol the listener speaks: "http/1.1" (or ""), "h2" (h2c with
	// prior knowledge, HTTP/1.1 upstream) or "grpc" (h2c, HTTP/2 upstream).
	Protocol string
}

// Protocols of Options.Protocol (the scenario's names).
const (
	HTTP1 = "http/1.1"
	H2    = "h2"
	GRPC  = "grpc"
)

// Peer is one proxy the runner can measure.
type Peer struct {
	Name   string // "nginx", "haproxy", "envoy", "linkerd2-proxy"
	Binary string // program name looked up on PATH
}

// Names of the peers.
const (
	Nginx         = "nginx"
	HAProxy       = "haproxy"
	Envoy         = "envoy"
	Linkerd2Proxy = "linkerd2-proxy"
)

// All returns the peers in the order the runner measures them.
func All() []Peer {
	return []Peer{
		{Name: Nginx, Binary: "nginx"},
		{Name: HAProxy, Binary: "haproxy"},
		{Name: Envoy, Binary: "envoy"},
		{Name: Linkerd2Proxy, Binary: "linkerd2-proxy"},
	}
}

// Lookup returns the peer called name.
func Lookup(name string) (Peer, bool) {
	for _, p := range All() {
		if p.Name == name {
			return p, true
		}
	}
	return Peer{}, false
}

// commandTimeout bounds every command this package runs itself (version
// queries and config tests).
const commandTimeout = 30 * time.Second

// Find looks the peer's binary up on PATH and asks it for its version. The
// error wraps ErrNotFound when the binary is not on PATH. When the binary
// runs but its version cannot be read, version is the first line it printed.
func (p Peer) Find() (path, version string, err error) {
	path, err = exec.LookPath(p.Binary)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", "", fmt.Errorf("peers: %s: %q %w", p.Name, p.Binary, ErrNotFound)
		}
		return "", "", fmt.Errorf("peers: %s: %w", p.Name, err)
	}
	var args, env []string
	switch p.Name {
	case Nginx, HAProxy:
		args = []string{"-v"} // nginx prints to stderr, HAProxy to stdout
	case Envoy:
		args = []string{"--version"}
	case Linkerd2Proxy:
		// linkerd2-proxy reads no command line (linkerd2-proxy/src/main.rs
		// never looks at its arguments) and has no version flag. Its first
		// log line is "{profile} {version} ({sha}) by {vendor} on {date}";
		// with an empty environment it then fails to load its
		// configuration and exits 64 before binding anything.
		env = []string{"LINKERD2_PROXY_LOG=info"}
	default:
		return path, "", fmt.Errorf("peers: unknown peer %q", p.Name)
	}
	out, runErr := runCommand(path, args, env)
	version = parseVersion(p.Name, out)
	if version == "" {
		if runErr != nil && len(bytes.TrimSpace(out)) == 0 {
			return path, "", fmt.Errorf("peers: %s: %s %s: %w", p.Name, path, strings.Join(args, " "), runErr)
		}
		version = firstLine(out)
	}
	return path, version, nil
}

var versionPatterns = map[string]*regexp.Regexp{
	Nginx:   regexp.MustCompile(`nginx version: [^/\s]+/(\S+)`),
	HAProxy: regexp.MustCompile(`(?i)HA-?Proxy version (\S+)`),
	// "envoy  version: <sha>/1.28.0/Clean/RELEASE/BoringSSL"
	Envoy: regexp.MustCompile(`version: [0-9a-f]+/([^/\s]+)`),
	// "... INFO ThreadId(01) linkerd2_proxy: release v2.276.0 (abc123) by linkerd on 2025-01-01"
	Linkerd2Proxy: regexp.MustCompile(`linkerd2_proxy: \S+ (\S+) \([^)]*\) by \S+ on `),
}

func parseVersion(name string, out []byte) string {
	re := versionPatterns[name]
	if re == nil {
		return ""
	}
	if m := re.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// runCommand runs path with args (and, when env is not nil, only that
// environment), bounded by commandTimeout, and returns stdout and stderr.
func runCommand(path string, args, env []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	if env != nil {
		cmd.Env = env
	}
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", commandTimeout)
	}
	return out, err
}

// Prepare writes the peer's configuration into o.Dir and returns the command
// line (argv[0] is path) that runs it in the foreground. Start it in its own
// process group and signal the group to stop it: nginx's workers are child
// processes.
func (p Peer) Prepare(path string, o Options) (argv []string, err error) {
	if p.Name == Linkerd2Proxy {
		return nil, errLinkerd
	}
	o, err = o.normalize()
	if err != nil {
		return nil, fmt.Errorf("peers: %s: %w", p.Name, err)
	}
	var conf []byte
	var file string
	switch p.Name {
	case Nginx:
		file = filepath.Join(o.Dir, "nginx.conf")
		conf = nginxConfig(o)
		argv = []string{path, "-p", o.Dir + "/", "-c", file, "-e", filepath.Join(o.Dir, "error.log")}
	case HAProxy:
		file = filepath.Join(o.Dir, "haproxy.cfg")
		conf = haproxyConfig(o)
		argv = []string{path, "-db", "-f", file}
	case Envoy:
		if o.Protocol != HTTP1 {
			return nil, fmt.Errorf("peers: %s: %w: its config is HTTP/1 only (codec_type HTTP1), not %s", p.Name, ErrUnsupported, o.Protocol)
		}
		file = filepath.Join(o.Dir, "envoy.yaml")
		conf = envoyConfig(o)
		argv = append([]string{path, "-c", file}, envoyFlags(o)...)
	default:
		return nil, fmt.Errorf("peers: unknown peer %q", p.Name)
	}
	if err := os.WriteFile(file, conf, 0o644); err != nil {
		return nil, fmt.Errorf("peers: %s: %w", p.Name, err)
	}
	return argv, nil
}

// Check writes the configuration as Prepare does and tests it with the real
// binary (nginx -t, haproxy -c, envoy --mode validate). The error includes
// what the binary printed.
func (p Peer) Check(path string, o Options) error {
	argv, err := p.Prepare(path, o)
	if err != nil {
		return err
	}
	var args []string
	switch p.Name {
	case Nginx:
		args = append([]string{"-t"}, argv[1:]...)
	case HAProxy:
		args = []string{"-c", "-f", argv[3]}
	case Envoy:
		// no --log-path: what is wrong must reach the output
		args = []string{"--mode", "validate", "-c", argv[2], "--log-level", "warn"}
	}
	out, err := runCommand(path, args, nil)
	if err != nil {
		return fmt.Errorf("peers: %s: config test (%s %s) failed: %v\n%s",
			p.Name, path, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// normalize validates o and fills in defaults.
func (o Options) normalize() (Options, error) {
	if err := checkAddr(o.Listen); err != nil {
		return o, fmt.Errorf("Listen: %w", err)
	}
	if _, port, _ := net.SplitHostPort(o.Listen); port == "0" {
		return o, fmt.Errorf("Listen %q: port 0: the peer needs a fixed port to be waited for", o.Listen)
	}
	if len(o.Upstreams) == 0 {
		return o, errors.New("Upstreams: none")
	}
	for i, u := range o.Upstreams {
		if err := checkAddr(u); err != nil {
			return o, fmt.Errorf("Upstreams[%d]: %w", i, err)
		}
	}
	if o.Workers < 0 {
		return o, fmt.Errorf("Workers: %d is negative", o.Workers)
	}
	if o.Workers == 0 {
		o.Workers = runtime.NumCPU()
	}
	switch o.Protocol {
	case "":
		o.Protocol = HTTP1
	case HTTP1, H2, GRPC:
	default:
		return o, fmt.Errorf("Protocol %q: want %s, %s or %s", o.Protocol, HTTP1, H2, GRPC)
	}
	if o.Dir == "" {
		return o, errors.New("Dir: empty")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("Dir: %w", err)
	}
	if strings.ContainsAny(dir, "\"'\\$;{}#") || strings.ContainsFunc(dir, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return o, fmt.Errorf("Dir %q: quotes, backslashes, $ ; { } # and control characters are not allowed in the peers' config files", dir)
	}
	if st, err := os.Stat(dir); err != nil {
		return o, fmt.Errorf("Dir: %w", err)
	} else if !st.IsDir() {
		return o, fmt.Errorf("Dir %q: not a directory", dir)
	}
	o.Dir = dir
	o.Upstreams = append([]string(nil), o.Upstreams...)
	return o, nil
}

// checkAddr accepts IPv4-address:port, the form every peer's config takes
// unchanged.
func checkAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q: %w", a, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil {
		return fmt.Errorf("%q: want an IPv4 address and a port", a)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || strconv.Itoa(n) != port {
		return fmt.Errorf("%q: bad port", a)
	}
	return nil
}

func split(a string) (host, port string) {
	host, port, _ = net.SplitHostPort(a)
	return host, port
}

// nginxConfig: as scripts/hopbench.sh configures nginx, in the foreground
// (daemon off) with a master and o.Workers workers, everything in o.Dir.
// Responses and request bodies are streamed instead of spooled to temporary
// files (proxy_max_temp_file_size 0, proxy_request_buffering off), as the
// other proxies do; when nginx runs as root its workers run as nobody and
// could not write into a private Dir anyway.
//
// h2 and grpc listen with the http2 parameter: on a plain listener nginx
// 1.22 then speaks h2c with prior knowledge, and HTTP/1.1 no more. h2 is
// proxied as HTTP/1.1 with keep-alive, grpc with grpc_pass over h2c to the
// echo. Both raise keepalive_requests (default 1000) on the client side
// and upstream, so that a long step measures requests, not nginx closing
// every HTTP/2 connection after its thousandth stream.
func nginxConfig(o Options) []byte {
	var b strings.Builder
	d := o.Dir
	fmt.Fprintf(&b, `# nginx one-hop peer, written by meshbench (scenarios/internal/peers)
daemon off;
master_process on;
worker_processes %d;
pid "%s/nginx.pid";
error_log "%s/error.log" warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path "%s/client_body";
    proxy_temp_path "%s/proxy";
    fastcgi_temp_path "%s/fastcgi";
    uwsgi_temp_path "%s/uwsgi";
    scgi_temp_path "%s/scgi";

    upstream upstreams {
`, o.Workers, d, d, d, d, d, d, d)
	for _, u := range o.Upstreams {
		fmt.Fprintf(&b, "        server %s;\n", u)
	}
	switch o.Protocol {
	case HTTP1:
		fmt.Fprintf(&b, `        keepalive 64;
    }

    server {
        listen %s;
        location / {
            proxy_pass http://upstreams;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_max_temp_file_size 0;
            proxy_request_buffering off;
        }
    }
}
`, o.Listen)
	case H2:
		fmt.Fprintf(&b, `        keepalive 64;
        keepalive_requests 1000000000;
    }

    server {
        listen %s http2;
        keepalive_requests 1000000000;
        location / {
            proxy_pass http://upstreams;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_max_temp_file_size 0;
            proxy_request_buffering off;
        }
    }
}
`, o.Listen)
	case GRPC:
		fmt.Fprintf(&b, `        keepalive 64;
        keepalive_requests 1000000000;
    }

    server {
        listen %s http2;
        keepalive_requests 1000000000;
        location / {
            grpc_pass grpc://upstreams;
            grpc_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}
`, o.Listen)
	}
	return []byte(b.String())
}

// haproxyConfig: mode http, reusing upstream connections, no logging (no
// log lines), o.Workers threads. maxconn 4096: 10000 fails on the benchmark
// machines ("Cannot raise FD limit", see MACHINE-NOTES.md). h2 and grpc
// bind with "proto h2" (h2c with prior knowledge); grpc's servers are
// "proto h2" too (h2c to the echo), h2's stay HTTP/1.1.
func haproxyConfig(o Options) []byte {
	bind, server := "", ""
	switch o.Protocol {
	case H2:
		bind = " proto h2"
	case GRPC:
		bind, server = " proto h2", " proto h2"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# HAProxy one-hop peer, written by meshbench (scenarios/internal/peers)
global
    maxconn 4096
    nbthread %d

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 60s

frontend hop
    bind %s%s
    option forwardfor
    default_backend upstreams

backend upstreams
    balance roundrobin
`, o.Workers, o.Listen, bind)
	for i, u := range o.Upstreams {
		fmt.Fprintf(&b, "    server u%d %s%s\n", i+1, u, server)
	}
	return []byte(b.String())
}

// envoyConfig: a static bootstrap, listener -> http_connection_manager
// (HTTP/1 only, no access log) -> one route to a STATIC round-robin cluster
// of the upstreams. The admin listener is on 127.0.0.1 with a port the
// kernel picks. Circuit breakers are raised as Istio raises them, so that
// Envoy's default of 1024 does not cap a benchmark.
func envoyConfig(o Options) []byte {
	var b strings.Builder
	lh, lp := split(o.Listen)
	fmt.Fprintf(&b, `# Envoy one-hop peer, written by meshbench (scenarios/internal/peers)
admin:
  address:
    socket_address: {address: 127.0.0.1, port_value: 0}
static_resources:
  listeners:
  - name: hop
    address:
      socket_address: {address: %s, port_value: %s}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: hop
          codec_type: HTTP1
          route_config:
            name: hop
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: upstreams}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstreams
    type: STATIC
    connect_timeout: 5s
    lb_policy: ROUND_ROBIN
    circuit_breakers:
      thresholds:
      - max_connections: 100000
        max_pending_requests: 100000
        max_requests: 100000
    load_assignment:
      cluster_name: upstreams
      endpoints:
      - lb_endpoints:
`, lh, lp)
	for _, u := range o.Upstreams {
		h, p := split(u)
		fmt.Fprintf(&b, "        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}\n", h, p)
	}
	return []byte(b.String())
}

// envoyFlags: o.Workers worker threads; no hot restart (no shared memory,
// no domain socket), and a base id of its own anyway, so that Envoys started
// side by side never meet; logs into o.Dir.
func envoyFlags(o Options) []string {
	_, port := split(o.Listen)
	return []string{
		"--concurrency", strconv.Itoa(o.Workers),
		"--base-id", port,
		"--disable-hot-restart",
		"--log-level", "warn",
		"--log-path", filepath.Join(o.Dir, "envoy.log"),
	}
}

// errLinkerd is what linkerd2-proxy/src/main.rs and linkerd/app/src/env.rs
// (github.com/linkerd/linkerd2-proxy, read at 29637b64, 2026-08-21) allow:
// all configuration is environment variables, and none of them names an
// upstream.
var errLinkerd = fmt.Errorf("peers: linkerd2-proxy: %w: it cannot run as a standalone one-hop proxy. "+
	"Its configuration (Config::try_from_env, linkerd/app/src/env.rs) has no static upstreams and fails "+
	"without Linkerd's control plane: LINKERD2_PROXY_DESTINATION_SVC_ADDR is required (\"no destination service configured\"), "+
	"so are LINKERD2_PROXY_POLICY_SVC_ADDR and LINKERD2_PROXY_POLICY_WORKLOAD (\"no policy service configured\"), "+
	"and an identity (trust anchors, server id and name, and an identity service or SPIRE; LINKERD2_PROXY_IDENTITY_DISABLED "+
	"is rejected as no longer supported). Its outbound listener routes each connection by its SO_ORIGINAL_DST "+
	"(an iptables-redirected connection), not by configuration. Measure it inside a Linkerd mesh (the kind path)",
	ErrUnsupported)
