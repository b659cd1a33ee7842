package sidecar

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/scenarios/certs"
)

const td = "cluster.local"

func spiffeID(ns, sa string) string { return "spiffe://" + td + "/ns/" + ns + "/sa/" + sa }

// pki writes identities signed by one CA into a directory.
type pki struct {
	t   *testing.T
	dir string
	ca  *certs.CA
}

func newPKI(t *testing.T) *pki {
	ca, err := certs.NewCA(td, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{t: t, dir: t.TempDir(), ca: ca}
	writeFile(t, filepath.Join(p.dir, "ca.crt"), string(ca.CertPEM))
	return p
}

// issue writes name.crt/name.key for id, valid from notBefore to notAfter.
func (p *pki) issueAt(name, id string, notBefore, notAfter time.Time) (crt, key string) {
	certPEM, keyPEM, err := p.ca.Issue(id, notBefore, notAfter)
	if err != nil {
		p.t.Fatal(err)
	}
	crt, key = filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	writeFile(p.t, crt, string(certPEM))
	writeFile(p.t, key, string(keyPEM))
	return crt, key
}

func (p *pki) issue(name, id string) (crt, key string) {
	return p.issueAt(name, id, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
}

func (p *pki) identityYAML(name string) string {
	return fmt.Sprintf("  identity: {certFile: %q, keyFile: %q, caFile: %q}\n",
		filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key"), filepath.Join(p.dir, "ca.crt"))
}

// pair is a client sidecar (outbound, identity web) and a server sidecar
// (inbound mTLS, identity reviews) in front of an echo app.
type pair struct {
	client, server *started
	inbound        string
	app            string
}

// pairOpts vary the pair: the server's authorization YAML and extra Proxy
// spec (clientExtra: the client's), the identity the client expects of the
// server, and the app's address (default: an echo with 1 KiB bodies).
type pairOpts struct {
	authz, serverExtra, clientExtra, expected, app string
}

func startPair(t *testing.T, p *pki, o pairOpts) *pair {
	authz, expected := o.authz, o.expected
	app := o.app
	if app == "" {
		app = startEcho(t, "app", 1024).Addr()
	}
	inbound := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	server := startSidecar(t, &mesh{
		inbound:      inbound,
		app:          app,
		inboundExtra: authz,
		extraProxy:   p.identityYAML("reviews") + o.serverExtra,
	})
	if expected == "" {
		expected = spiffeID("default", "reviews")
	}
	cm := &mesh{
		extraProxy: p.identityYAML("web") + o.clientExtra,
		routes: fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: default
  annotations: {meshbench.dev/identity: %q}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: default, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: %s}]
endpoints: [{addresses: [127.0.0.1]}]
`, expected, portOf(t, inbound)),
	}
	client := startSidecar(t, cm)
	return &pair{client: client, server: server, inbound: inbound, app: app}
}

func TestMTLSPairForwardsBodies(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	sp := startPair(t, p, pairOpts{})
	c := sp.client

	for _, size := range []int{0, 1024, 1 << 20} {
		body := bytes.Repeat([]byte("mtls-body-"), size/10+1)[:size]
		resp, got := c.do(t, "POST", "reviews", "/?echo=body", bytes.NewReader(body), nil)
		if resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Fatalf("request body %d: status %d, %d bytes back", size, resp.StatusCode, len(got))
		}
		resp, got = c.do(t, "GET", "reviews", fmt.Sprintf("/?size=%d", size), nil, nil)
		if resp.StatusCode != 200 || len(got) != size {
			t.Fatalf("response body %d: status %d, %d bytes", size, resp.StatusCode, len(got))
		}
	}
	chunked := bytes.Repeat([]byte("c"), 200000)
	resp, got := c.do(t, "POST", "reviews", "/?echo=body", io.MultiReader(bytes.NewReader(chunked)), nil)
	if resp.StatusCode != 200 || !bytes.Equal(got, chunked) {
		t.Fatalf("chunked request: status %d, %d bytes", resp.StatusCode, len(got))
	}
	resp, got = c.do(t, "GET", "reviews", "/?chunked=1&size=100000", nil, nil)
	if resp.StatusCode != 200 || len(got) != 100000 {
		t.Fatalf("chunked response: status %d, %d bytes", resp.StatusCode, len(got))
	}

	// The app sees who called, and a spoofed header from the client app is gone.
	_, got = c.do(t, "GET", "reviews", "/?echo=headers", nil, map[string]string{
		"X-Forwarded-Client-Cert": "By=spiffe://evil/x;URI=spiffe://evil/y",
	})
	h := strings.ToLower(string(got))
	want := strings.ToLower("x-forwarded-client-cert: By=" + spiffeID("default", "reviews") + ";URI=" + spiffeID("default", "web"))
	if !strings.Contains(h, want) || strings.Contains(h, "evil") || strings.Count(h, "x-forwarded-client-cert") != 1 {
		t.Fatalf("app saw headers:\n%s\nwant exactly %q", got, want)
	}
	if v, ok := metricLine(c.metricsText(t), "meshproxy_tls_handshakes_total", `direction="outbound"`, `resumed="false"`); !ok || v == "0" {
		t.Errorf("client handshakes not counted")
	}
	if v, ok := metricLine(sp.server.metricsText(t), "meshproxy_tls_handshakes_total", `direction="inbound"`, `resumed="false"`); !ok || v == "0" {
		t.Errorf("server handshakes not counted")
	}
	// The certificates were issued for an hour.
	if v, ok := metricLine(c.metricsText(t), "meshproxy_identity_cert_expiry_seconds"); !ok {
		t.Errorf("no expiry metric")
	} else if secs, err := strconv.ParseFloat(v, 64); err != nil || secs < 3000 || secs > 3600 {
		t.Errorf("expiry in %q s, want about 3600", v)
	}
}

// tlsClient dials the server's inbound listener directly with a chosen
// client certificate (nil: none) and reports the handshake's outcome.
func tlsClient(t *testing.T, addr string, cert *tls.Certificate) error {
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	// TLS 1.3: the client's certificate is judged after the client's
	// handshake returns; a refused one shows on the first read.
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 512)
	_, err = c.Read(buf)
	return err
}

func loadPair(t *testing.T, crt, key string) *tls.Certificate {
	c, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestMTLSInboundRefusals(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	sp := startPair(t, p, pairOpts{})

	other := newPKI(t) // a different CA
	strangerCrt, strangerKey := other.issue("stranger", spiffeID("default", "web"))
	expiredCrt, expiredKey := p.issueAt("expired", spiffeID("default", "web"), time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	foreignCrt, foreignKey := p.issue("foreign", "spiffe://other.domain/ns/default/sa/web")
	goodCrt, goodKey := p.issue("good", spiffeID("default", "web"))

	cases := []struct {
		name   string
		cert   *tls.Certificate
		reason string
	}{
		{"no client certificate", nil, "no_client_cert"},
		{"wrong CA", loadPair(t, strangerCrt, strangerKey), "unknown_ca"},
		{"expired", loadPair(t, expiredCrt, expiredKey), "expired"},
		{"outside the trust domain", loadPair(t, foreignCrt, foreignKey), "untrusted_domain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := tlsClient(t, sp.inbound, c.cert); err == nil {
				t.Fatal("handshake accepted")
			}
			waitMetric(t, sp.server, "meshproxy_tls_handshake_failures_total", `reason="`+c.reason+`"`)
		})
	}
	t.Run("valid peer", func(t *testing.T) {
		if err := tlsClient(t, sp.inbound, loadPair(t, goodCrt, goodKey)); err != nil {
			t.Fatalf("valid client refused: %v", err)
		}
	})
	t.Run("plaintext client", func(t *testing.T) {
		c, err := net.Dial("tcp", sp.inbound)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: reviews\r\n\r\n"))
		b, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("plaintext client hung (read %q)", b)
		}
		if strings.Contains(string(b), "HTTP/1.1 200") {
			t.Fatalf("plaintext client was served: %q", b)
		}
		waitMetric(t, sp.server, "meshproxy_tls_handshake_failures_total", `reason="not_tls"`)
	})
	// The proxy still serves its real peer after all that.
	if resp, _ := sp.client.do(t, "GET", "reviews", "/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("pair broken after refusals: %d", resp.StatusCode)
	}
}

func TestMTLSServerIdentityMismatch(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	sp := startPair(t, p, pairOpts{expected: spiffeID("default", "ratings")})
	got := rawExchange(t, sp.client.out, "GET / HTTP/1.1\r\nHost: reviews\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") || !strings.Contains(strings.ToLower(got), "x-meshproxy-error: upstream_tls_failed") {
		t.Fatalf("got %q, want 503 upstream_tls_failed", got)
	}
	waitMetric(t, sp.client, "meshproxy_tls_handshake_failures_total", `direction="outbound"`, `reason="identity_mismatch"`)
}

func TestMTLSAuthorization(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	authz := fmt.Sprintf("    authorization:\n      - principals: [%q]\n        paths: [/api/]\n        methods: [GET]\n", spiffeID("default", "web"))
	sp := startPair(t, p, pairOpts{authz: authz})
	server, client, inbound := sp.server, sp.client, sp.inbound
	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/reviews", 200},
		{"GET", "/admin", 403},
		{"POST", "/api/reviews", 403},
	}
	for _, c := range cases {
		resp, _ := client.do(t, c.method, "reviews", c.path, nil, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
		if c.status == 403 && resp.Header.Get("x-meshproxy-error") != "unauthorized" {
			t.Errorf("%s %s: x-meshproxy-error %q", c.method, c.path, resp.Header.Get("x-meshproxy-error"))
		}
	}
	// Another identity is refused everywhere.
	p.issue("other", spiffeID("default", "other"))
	otherClient := startSidecar(t, &mesh{
		extraProxy: p.identityYAML("other"),
		services:   []svc{{name: "reviews", ports: []string{portOf(t, inbound)}}},
	})
	if resp, _ := otherClient.do(t, "GET", "reviews", "/api/reviews", nil, nil); resp.StatusCode != 403 {
		t.Fatalf("other identity: %d, want 403", resp.StatusCode)
	}
	if v, ok := metricLine(server.metricsText(t), "meshproxy_local_replies_total", `code="403"`, `reason="unauthorized"`); !ok || v != "3" {
		t.Fatalf("denials counted %q, want 3", v)
	}
}

// TestMTLSAuthorizationPathNormalization: paths that escape a rule's prefix
// once the app resolves them are refused by the server sidecar, sent as
// raw bytes through the client sidecar, which forwards them unchanged;
// their look-alikes that stay under the prefix reach the app.
func TestMTLSAuthorizationPathNormalization(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	authz := fmt.Sprintf("    authorization:\n      - principals: [%q]\n        paths: [/api/]\n", spiffeID("default", "web"))
	sp := startPair(t, p, pairOpts{authz: authz})
	cases := []struct {
		path   string
		status int
	}{
		{"/api/..;/stats", 403},
		{"/api/.;/stats", 403},
		{"/api/%2e%2e;/stats", 403},
		{"/api/..;jsessionid=x/stats", 403},
		{"/api/%252e%252e/stats", 403},
		{"/api/%%32%65%%32%65/stats", 403},
		{"/api/v1;x=1/items", 200},
		{"/api//items", 200},
		{"/api/items?next=..;/stats", 200},
	}
	refused := 0
	for _, c := range cases {
		got := rawExchange(t, sp.client.out, "GET "+c.path+" HTTP/1.1\r\nHost: reviews\r\n\r\n", 5*time.Second)
		if !strings.HasPrefix(got, fmt.Sprintf("HTTP/1.1 %d ", c.status)) {
			t.Errorf("GET %s: %q, want status %d", c.path, got, c.status)
		}
		if c.status == 403 {
			refused++
			if !strings.Contains(strings.ToLower(got), "x-meshproxy-error: unauthorized") {
				t.Errorf("GET %s: %q, want x-meshproxy-error: unauthorized", c.path, got)
			}
		}
	}
	if v, ok := metricLine(sp.server.metricsText(t), "meshproxy_local_replies_total", `code="403"`, `reason="unauthorized"`); !ok || v != strconv.Itoa(refused) {
		t.Fatalf("server counted %q denials, want %d", v, refused)
	}
}

// servedSerial connects to addr with a valid client certificate and
// returns the serial number of the certificate the server presented.
func servedSerial(t *testing.T, addr string, cert *tls.Certificate) string {
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{*cert}}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func serialOf(t *testing.T, crtFile string) string {
	b, err := os.ReadFile(crtFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

func TestMTLSRotationUnderLoad(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	probeCrt, probeKey := p.issue("probe", spiffeID("default", "probe"))
	sp := startPair(t, p, pairOpts{})
	probe := loadPair(t, probeCrt, probeKey)

	stop := sp.client.load("reviews", nil)
	time.Sleep(300 * time.Millisecond)
	// Rotate both sides' leaf certificates while requests flow.
	newServer, _ := p.issue("reviews", spiffeID("default", "reviews"))
	p.issue("web", spiffeID("default", "web"))
	rotatedAt := time.Now()
	want := serialOf(t, newServer)
	// The files are polled every identityPoll (200 ms): an idle machine
	// serves the new certificate within about that, a loaded one later.
	// The deadline only tells "never" from "late"; it is no latency bound.
	const deadline = 50 * identityPoll
	var seenAfter time.Duration
	for time.Since(rotatedAt) < deadline {
		if servedSerial(t, sp.inbound, probe) == want {
			seenAfter = time.Since(rotatedAt)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	total, failures := stop()
	t.Logf("%d requests, %d failed; new certificate served after %v", total, failures, seenAfter)
	if seenAfter == 0 {
		t.Fatalf("new handshakes still present the old certificate %v after the rotation", deadline)
	}
	if failures != 0 {
		t.Fatalf("%d of %d requests failed during rotation", failures, total)
	}
}

// TestMTLSOpenSSLCertificates: identities made by openssl, not by
// meshbench certs, work between two proxies.
func TestMTLSOpenSSLCertificates(t *testing.T) {
	testenv.NeedProgram(t, "openssl", "openssl")
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=openssl test CA",
		"-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	for _, sa := range []string{"web", "reviews"} {
		run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-keyout", sa+".key", "-out", sa+".csr", "-subj", "/O=openssl test")
		ext := fmt.Sprintf("subjectAltName=URI:%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n", spiffeID("default", sa))
		if err := os.WriteFile(filepath.Join(dir, sa+".ext"), []byte(ext), 0o644); err != nil {
			t.Fatal(err)
		}
		run("x509", "-req", "-in", sa+".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
			"-out", sa+".crt", "-days", "1", "-extfile", sa+".ext")
	}
	sp := startPair(t, &pki{t: t, dir: dir}, pairOpts{})
	_, got := sp.client.do(t, "GET", "reviews", "/?echo=headers", nil, nil)
	if !strings.Contains(strings.ToLower(string(got)), strings.ToLower("URI="+spiffeID("default", "web"))) {
		t.Fatalf("openssl identities: app saw\n%s", got)
	}
}

// TestMTLSResumption: when the server closes an idle connection, the client
// proxy's next connection resumes the TLS session instead of a full handshake.
func TestMTLSResumption(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	sp := startPair(t, p, pairOpts{serverExtra: "  timeouts: {idle: 200ms}\n"})
	for i := 0; i < 3; i++ {
		if resp, _ := sp.client.do(t, "GET", "reviews", "/", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		time.Sleep(500 * time.Millisecond) // the server drops the idle connection
	}
	text := sp.client.metricsText(t)
	full, _ := metricLine(text, "meshproxy_tls_handshakes_total", `direction="outbound"`, `resumed="false"`)
	resumed, _ := metricLine(text, "meshproxy_tls_handshakes_total", `direction="outbound"`, `resumed="true"`)
	if full != "1" || resumed != "2" {
		t.Fatalf("client handshakes: %s full, %s resumed; want 1 full then 2 resumed", full, resumed)
	}
	if v, _ := metricLine(sp.server.metricsText(t), "meshproxy_tls_handshakes_total", `direction="inbound"`, `resumed="true"`); v != "2" {
		t.Fatalf("server saw %s resumed handshakes, want 2", v)
	}
}
