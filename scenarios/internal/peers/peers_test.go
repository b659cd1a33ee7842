package peers

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/scenarios/echo"
	"github.com/meshbench/meshbench/scenarios/internal/procstat"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func goldenOptions(t *testing.T) Options {
	return Options{
		Listen:    "127.0.0.1:18080",
		Upstreams: []string{"127.0.0.1:18081", "127.0.0.1:18082"},
		Workers:   2,
		Dir:       t.TempDir(),
	}
}

var configFile = map[string]string{Nginx: "nginx.conf", HAProxy: "haproxy.cfg", Envoy: "envoy.yaml"}

// protocolsOf lists the protocols each peer's listener can speak, in the
// form its golden files are named by ("" is HTTP/1.1: PEER.golden).
var protocolsOf = map[string][]string{Nginx: {"", H2, GRPC}, HAProxy: {"", H2, GRPC}, Envoy: {""}}

// goldenName is the golden file of peer name speaking protocol.
func goldenName(name, protocol string) string {
	if protocol == "" {
		return name
	}
	return name + "-" + protocol
}

// The generated command line and config of each peer in each protocol,
// with the scratch directory shown as $DIR.
func TestGolden(t *testing.T) {
	for _, p := range All() {
		for _, proto := range protocolsOf[p.Name] {
			t.Run(goldenName(p.Name, proto), func(t *testing.T) { testGolden(t, p, proto) })
		}
	}
}

func testGolden(t *testing.T, p Peer, proto string) {
	o := goldenOptions(t)
	o.Protocol = proto
	argv, err := p.Prepare("/path/to/"+p.Binary, o)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(o.Dir, configFile[p.Name]))
	if err != nil {
		t.Fatal(err)
	}
	got := "# argv\n" + strings.Join(argv, "\n") + "\n# " + configFile[p.Name] + "\n" + string(conf)
	got = strings.ReplaceAll(got, o.Dir, "$DIR")
	golden := filepath.Join("testdata", goldenName(p.Name, proto)+".golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from what Prepare writes (go test -update rewrites it):\n--- got\n%s", golden, got)
	}
}

// Envoy's config is HTTP/1 only: asking it for another protocol is
// unsupported (the runner skips the step, saying why), and so is an
// unknown protocol for any peer.
func TestProtocolRefused(t *testing.T) {
	o := goldenOptions(t)
	o.Protocol = GRPC
	envoy, _ := Lookup(Envoy)
	if _, err := envoy.Prepare("/usr/bin/envoy", o); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "grpc") {
		t.Errorf("envoy grpc: %v, want ErrUnsupported naming grpc", err)
	}
	o.Protocol = "spdy"
	nginx, _ := Lookup(Nginx)
	if _, err := nginx.Prepare("/usr/sbin/nginx", o); err == nil || !strings.Contains(err.Error(), `Protocol "spdy"`) {
		t.Errorf("nginx spdy: %v, want an error naming the protocol", err)
	}
}

func TestAllOrder(t *testing.T) {
	var names []string
	for _, p := range All() {
		names = append(names, p.Name)
		if q, ok := Lookup(p.Name); !ok || q != p {
			t.Errorf("Lookup(%q) = %v, %v", p.Name, q, ok)
		}
	}
	if got := strings.Join(names, ","); got != "nginx,haproxy,envoy,linkerd2-proxy" {
		t.Fatalf("All() = %s", got)
	}
	if _, ok := Lookup("caddy"); ok {
		t.Fatal("Lookup(caddy) found something")
	}
}

func TestLinkerdUnsupported(t *testing.T) {
	p, _ := Lookup(Linkerd2Proxy)
	_, err := p.Prepare("/usr/bin/linkerd2-proxy", goldenOptions(t))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Prepare: %v, want ErrUnsupported", err)
	}
	for _, want := range []string{"LINKERD2_PROXY_DESTINATION_SVC_ADDR", "LINKERD2_PROXY_POLICY_SVC_ADDR", "SO_ORIGINAL_DST", "identity"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the reason does not mention %s: %v", want, err)
		}
	}
	if err := p.Check("/usr/bin/linkerd2-proxy", goldenOptions(t)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Check: %v, want ErrUnsupported", err)
	}
}

func TestBadOptions(t *testing.T) {
	p, _ := Lookup(Nginx)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	quoted := filepath.Join(t.TempDir(), `a"b`)
	os.Mkdir(quoted, 0o755)
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no listen", func(o *Options) { o.Listen = "" }, "Listen"},
		{"listen port 0", func(o *Options) { o.Listen = "127.0.0.1:0" }, "port 0"},
		{"listen host name", func(o *Options) { o.Listen = "localhost:80" }, "IPv4"},
		{"listen bad port", func(o *Options) { o.Listen = "127.0.0.1:99999" }, "bad port"},
		{"no upstreams", func(o *Options) { o.Upstreams = nil }, "Upstreams"},
		{"bad upstream", func(o *Options) { o.Upstreams = []string{"127.0.0.1:1", "127.0.0.1;x"} }, "Upstreams[1]"},
		{"negative workers", func(o *Options) { o.Workers = -1 }, "Workers"},
		{"no dir", func(o *Options) { o.Dir = "" }, "Dir"},
		{"missing dir", func(o *Options) { o.Dir = filepath.Join(o.Dir, "nope") }, "no such file"},
		{"dir is a file", func(o *Options) { o.Dir = file }, "not a directory"},
		{"quote in dir", func(o *Options) { o.Dir = quoted }, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := goldenOptions(t)
			tt.edit(&o)
			_, err := p.Prepare("/usr/sbin/nginx", o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Prepare: %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	// Workers 0: one per core
	o := goldenOptions(t)
	o.Workers = 0
	if n, err := o.normalize(); err != nil || n.Workers < 1 {
		t.Fatalf("Workers 0: %+v, %v", n, err)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct{ peer, out, want string }{
		{Nginx, "nginx version: nginx/1.22.1\n", "1.22.1"},
		{Nginx, "nginx version: openresty/1.21.4.1\n", "1.21.4.1"},
		{HAProxy, "HAProxy version 2.6.12-1+deb12u2 2025/04/30 - https://haproxy.org/\nStatus: long-term supported branch\n", "2.6.12-1+deb12u2"},
		{HAProxy, "HA-Proxy version 1.8.19 2019/02/11\n", "1.8.19"},
		{Envoy, "\nenvoy  version: 5ce1d3a6eaf6ec14ac08d4fba4a83c5ef52b4b6e/1.28.0/Clean/RELEASE/BoringSSL\n\n", "1.28.0"},
		{Linkerd2Proxy, "[     0.000652s]  INFO ThreadId(01) linkerd2_proxy: release v2.276.0 (e3e8b1c) by linkerd on 2025-01-28T17:06:58Z\nInvalid configuration: no destination service configured\n", "v2.276.0"},
		{Nginx, "something else\n", ""},
	}
	for _, tt := range tests {
		if got := parseVersion(tt.peer, []byte(tt.out)); got != tt.want {
			t.Errorf("parseVersion(%s, %q) = %q, want %q", tt.peer, tt.out, got, tt.want)
		}
	}
}

// fakeBinary writes a shell script called name into a new PATH directory.
func fakeBinary(t *testing.T, name, script string) string {
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return path
}

func TestFindNotOnPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, p := range All() {
		if _, _, err := p.Find(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Find with an empty PATH: %v, want ErrNotFound", p.Name, err)
		}
	}
}

func TestFindFake(t *testing.T) {
	fake := fakeBinary(t, "envoy", `echo "envoy  version: abc123/1.30.1/Clean/RELEASE/BoringSSL"`)
	p, _ := Lookup(Envoy)
	path, version, err := p.Find()
	if err != nil || path != fake || version != "1.30.1" {
		t.Fatalf("Find = %q, %q, %v", path, version, err)
	}
	// linkerd2-proxy gets an empty environment (but for its log level) and
	// no arguments; its version is in its first log line.
	fakeBinary(t, "linkerd2-proxy", `[ $# -eq 0 ] && [ -z "$HOME" ] && [ "$LINKERD2_PROXY_LOG" = info ] &&
echo "[0.0s]  INFO ThreadId(01) linkerd2_proxy: release v9.9.9 (abc) by linkerd on today"
echo "Invalid configuration: no destination service configured" >&2; exit 64`)
	p, _ = Lookup(Linkerd2Proxy)
	if _, version, err := p.Find(); err != nil || version != "v9.9.9" {
		t.Fatalf("linkerd2-proxy: Find = %q, %v", version, err)
	}
	// unreadable version: the first line stands in for it
	fakeBinary(t, "nginx", `echo "some nginx fork 7" >&2`)
	p, _ = Lookup(Nginx)
	if _, version, err := p.Find(); err != nil || version != "some nginx fork 7" {
		t.Fatalf("nginx fork: Find = %q, %v", version, err)
	}
}

// debianPackage names the package that installs each peer; a peer
// without one (Envoy, linkerd2-proxy: no Debian package, and their release
// binaries are not installed by CI) cannot be provided in CI.
var debianPackage = map[string]string{Nginx: "nginx", HAProxy: "haproxy"}

// findPeer is p.Find, skipping (or in CI failing, for a peer CI can
// install) when p's binary is not on PATH.
func findPeer(t *testing.T, p Peer) (path, version string, err error) {
	t.Helper()
	path, version, err = p.Find()
	if errors.Is(err, ErrNotFound) {
		if pkg := debianPackage[p.Name]; pkg != "" {
			testenv.Missing(t, "%s not on PATH: apt-get install %s", p.Binary, pkg)
		} else {
			testenv.CannotProvide(t, "%s not on PATH: no Debian package", p.Binary)
		}
	}
	return path, version, err
}

func TestFindReal(t *testing.T) {
	for _, p := range All() {
		t.Run(p.Name, func(t *testing.T) {
			path, version, err := findPeer(t, p)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s", path, version)
			if version == "" || version[0] < '0' || version[0] > '9' && version[0] != 'v' {
				t.Errorf("version %q", version)
			}
		})
	}
}

func TestCheckReal(t *testing.T) {
	for _, p := range All() {
		for _, proto := range protocolsOf[p.Name] {
			t.Run(goldenName(p.Name, proto), func(t *testing.T) {
				path, _, err := findPeer(t, p)
				if err != nil {
					t.Fatal(err)
				}
				o := goldenOptions(t)
				o.Workers, o.Protocol = 0, proto
				if err := p.Check(path, o); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestCheckReportsOutput(t *testing.T) {
	fake := fakeBinary(t, "haproxy", `echo "[ALERT] config : parsing [x.cfg:3] : unknown keyword 'boom'" >&2; exit 1`)
	p, _ := Lookup(HAProxy)
	err := p.Check(fake, goldenOptions(t))
	if err == nil || !strings.Contains(err.Error(), "unknown keyword 'boom'") || !strings.Contains(err.Error(), "-c -f") {
		t.Fatalf("Check: %v, want the binary's output and command", err)
	}
}

// upstream is one echo server behind the peer.
type upstream struct {
	name string
	hits atomic.Int64
	srv  *httptest.Server

	mu    sync.Mutex
	proto map[string]bool // the protocols requests arrived in
}

// protos lists the protocols requests arrived in, sorted.
func (u *upstream) protos() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for p := range u.proto {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func newUpstream(t *testing.T, name string) *upstream {
	u := &upstream{name: name, proto: map[string]bool{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.proto[r.Proto] = true
		u.mu.Unlock()
		w.Header().Set("X-Upstream", name)
		fmt.Fprintf(w, "%s %s %s", name, r.Method, r.URL.RequestURI())
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// liveInGroup lists the processes of process group pgid that have not
// exited (zombies waiting for a reaper are dead: no CPU, no memory).
func liveInGroup(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var live []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:])) // state ppid pgrp ...
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			live = append(live, pid)
		}
	}
	return live
}

// TestEndToEnd runs each installed peer in front of two upstreams and sends
// 20 requests through it.
func TestEndToEnd(t *testing.T) {
	for _, p := range All() {
		t.Run(p.Name, func(t *testing.T) {
			path, version, err := findPeer(t, p)
			if err != nil {
				t.Fatal(err)
			}
			a, b := newUpstream(t, "a"), newUpstream(t, "b")
			o := Options{
				Listen:    freePort(t),
				Upstreams: []string{a.addr(), b.addr()},
				Workers:   2,
				Dir:       t.TempDir(),
			}
			argv, err := p.Prepare(path, o)
			if p.Name == Linkerd2Proxy {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("Prepare: %v, want ErrUnsupported", err)
				}
				// Refusing is the behaviour under test: there is nothing to run.
				t.Logf("linkerd2-proxy %s: %v (no end-to-end run)", version, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s: %s", p.Name, version, strings.Join(argv, " "))
			pgid := runPeer(t, p, argv, o)

			// the sampler the runner will use sees all of the peer's processes
			sampler, err := procstat.Start([]procstat.Group{{Name: p.Name, Root: pgid}}, nil, 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			for i := range 20 {
				uri := "/hop/" + strconv.Itoa(i) + "?i=" + strconv.Itoa(i)
				resp, err := client.Get("http://" + o.Listen + uri)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				name := resp.Header.Get("X-Upstream")
				if resp.StatusCode != 200 || (name != "a" && name != "b") || string(body) != name+" GET "+uri {
					t.Fatalf("request %d: %d %q (x-upstream %q)", i, resp.StatusCode, body, name)
				}
			}
			stats := sampler.Stop().Groups[0]
			t.Logf("procstat: %d pids, %d samples, RSS peak %.1f MiB, CPU %.2f s", len(stats.PIDs), stats.Samples, stats.RSSPeakMiB, stats.CPUSeconds)
			if live := liveInGroup(pgid); len(stats.PIDs) < len(live) || stats.Samples < 1 || stats.RSSPeakMiB <= 0 {
				t.Errorf("procstat saw pids %v (live %v), %d samples, RSS peak %.1f MiB", stats.PIDs, live, stats.Samples, stats.RSSPeakMiB)
			}
			ha, hb := a.hits.Load(), b.hits.Load()
			t.Logf("upstream a: %d requests, b: %d", ha, hb)
			if ha == 0 || hb == 0 || ha+hb != 20 {
				t.Errorf("upstream a got %d requests, b %d: want both, 20 in all", ha, hb)
			}
			if p.Name == Nginx {
				if live := liveInGroup(pgid); len(live) != 1+o.Workers {
					t.Errorf("nginx processes %v, want a master and %d workers", live, o.Workers)
				}
			}
		})
	}
}

// runPeer starts the peer's argv in a process group of its own, waits
// until it listens on o.Listen, and stops it (checking that nothing of it
// is left) when the test ends. It returns the process group.
func runPeer(t *testing.T, p Peer, argv []string, o Options) int {
	t.Helper()
	var out syncBuffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// Cleanups run last-registered first: stop the peer, then check
	// that nothing of it is left.
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			live := liveInGroup(pgid)
			if len(live) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("processes of %s left after cleanup: %v", p.Name, live)
				syscall.Kill(-pgid, syscall.SIGKILL)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Logf("%s did not stop 5 s after SIGTERM: SIGKILL", p.Name)
			syscall.Kill(-pgid, syscall.SIGKILL)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				t.Errorf("%s not reaped 5 s after SIGKILL", p.Name)
			}
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.Name, out.String())
			for _, log := range []string{"error.log", "envoy.log"} {
				if b, err := os.ReadFile(filepath.Join(o.Dir, log)); err == nil {
					t.Logf("%s:\n%s", log, b)
				}
			}
		}
	})
	waitPort(t, o.Listen, exited, 10*time.Second)
	return pgid
}

// TestEndToEndProtocols runs nginx and HAProxy in front of two upstreams
// with an h2 and a grpc listener, and sends 20 requests (calls) through
// each: h2 arrives as h2c with prior knowledge and leaves as HTTP/1.1,
// grpc stays HTTP/2 to the echo's gRPC service.
func TestEndToEndProtocols(t *testing.T) {
	for _, name := range []string{Nginx, HAProxy} {
		p, _ := Lookup(name)
		t.Run(name+"-h2", func(t *testing.T) {
			path, version, err := findPeer(t, p)
			if err != nil {
				t.Fatal(err)
			}
			a, b := newUpstream(t, "a"), newUpstream(t, "b")
			o := Options{Listen: freePort(t), Upstreams: []string{a.addr(), b.addr()}, Workers: 2, Dir: t.TempDir(), Protocol: H2}
			argv, err := p.Prepare(path, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s: %s", p.Name, version, strings.Join(argv, " "))
			runPeer(t, p, argv, o)
			// h2c with prior knowledge: HTTP/2 from the first byte, no
			// upgrade, no TLS.
			tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for i := range 20 {
				uri := "/hop/" + strconv.Itoa(i)
				resp, err := client.Get("http://" + o.Listen + uri)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				name := resp.Header.Get("X-Upstream")
				if resp.StatusCode != 200 || resp.ProtoMajor != 2 || (name != "a" && name != "b") || string(body) != name+" GET "+uri {
					t.Fatalf("request %d: %s %d %q (x-upstream %q)", i, resp.Proto, resp.StatusCode, body, name)
				}
			}
			ha, hb := a.hits.Load(), b.hits.Load()
			if ha == 0 || hb == 0 || ha+hb != 20 {
				t.Errorf("upstream a got %d requests, b %d: want both, 20 in all", ha, hb)
			}
			for _, u := range []*upstream{a, b} {
				if got := u.protos(); len(got) != 1 || got[0] != "HTTP/1.1" {
					t.Errorf("upstream %s saw %v, want HTTP/1.1 only (h2 is forwarded as HTTP/1.1)", u.name, got)
				}
			}
		})
		t.Run(name+"-grpc", func(t *testing.T) {
			path, version, err := findPeer(t, p)
			if err != nil {
				t.Fatal(err)
			}
			var ups []string
			var counts [2]atomic.Uint64
			for i := range counts {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				g := echo.NewGRPCServer(&counts[i]) // h2c with prior knowledge, as the echo's port serves it
				go g.Serve(l)
				t.Cleanup(g.Stop)
				ups = append(ups, l.Addr().String())
			}
			o := Options{Listen: freePort(t), Upstreams: ups, Workers: 2, Dir: t.TempDir(), Protocol: GRPC}
			argv, err := p.Prepare(path, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s: %s", p.Name, version, strings.Join(argv, " "))
			runPeer(t, p, argv, o)
			cc, err := grpc.NewClient("passthrough:///"+o.Listen, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			for i := range 20 {
				req := []byte("call " + strconv.Itoa(i))
				var resp []byte
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := cc.Invoke(ctx, echo.GRPCUnary, req, &resp, grpc.ForceCodec(echo.RawCodec{}))
				cancel()
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if !bytes.Equal(resp, req) {
					t.Fatalf("call %d: got %q, want %q echoed", i, resp, req)
				}
			}
			if ca, cb := counts[0].Load(), counts[1].Load(); ca == 0 || cb == 0 || ca+cb != 20 {
				t.Errorf("upstream a got %d calls, b %d: want both, 20 in all", ca, cb)
			}
		})
	}
}

// waitPort waits until addr accepts connections, the process exits, or the
// timeout passes.
func waitPort(t *testing.T, addr string, exited <-chan struct{}, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening on %s after %v: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
