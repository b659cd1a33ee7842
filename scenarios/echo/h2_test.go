package echo

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP.
func h2cClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// TestH2CEcho: the echo's parameters work the same over h2c as over
// HTTP/1.1, on the same port, and /stats counts both.
func TestH2CEcho(t *testing.T) {
	s := start(t, Options{Name: "e1", Size: 10})
	c := h2cClient()
	for _, tc := range []struct {
		name, method, query, body string
		status                    int
		want                      func([]byte) bool
	}{
		{"default size", "GET", "", "", 200, func(b []byte) bool { return bytes.Equal(b, Body(10)) }},
		{"size", "GET", "?size=100000", "", 200, func(b []byte) bool { return bytes.Equal(b, Body(100000)) }},
		{"status", "GET", "?status=503&size=0", "", 503, func(b []byte) bool { return len(b) == 0 }},
		{"echo headers", "GET", "?echo=headers", "", 200, func(b []byte) bool { return strings.Contains(string(b), "X-Probe: 1\n") }},
		{"echo body", "POST", "?echo=body", "hello over h2", 200, func(b []byte) bool { return string(b) == "hello over h2" }},
		{"bad parameter", "GET", "?size=x", "", 400, func(b []byte) bool { return strings.Contains(string(b), `bad size="x"`) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://"+s.Addr()+"/"+tc.query, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Probe", "1")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ProtoMajor != 2 || resp.StatusCode != tc.status || !tc.want(b) || resp.Header.Get(NameHeader) != "e1" {
				t.Fatalf("HTTP/%d %d, %s %q, body %.80q", resp.ProtoMajor, resp.StatusCode, NameHeader, resp.Header.Get(NameHeader), b)
			}
		})
	}
	// HTTP/1.1 on the same port, then the count of both.
	resp, err := http.Get("http://" + s.Addr() + "/?size=3")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 1 || string(b) != string(Body(3)) {
		t.Fatalf("HTTP/1.1 beside h2c: HTTP/%d %q", resp.ProtoMajor, b)
	}
	if got := s.Requests(); got != 7 {
		t.Errorf("Requests() = %d, want 7 (6 over h2c, 1 over HTTP/1.1)", got)
	}
}

func grpcConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(RawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestGRPCEcho: unary and bidirectional streaming calls echo their
// messages; a status chosen by metadata comes back as that status.
func TestGRPCEcho(t *testing.T) {
	s := start(t, Options{})
	cc := grpcConn(t, s.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	in := append([]byte{0x0a, 0x05}, "hello"...) // Payload{body: "hello"}
	var out []byte
	if err := cc.Invoke(ctx, GRPCUnary, in, &out); err != nil || !bytes.Equal(out, in) {
		t.Fatalf("unary: %v, got %q want %q", err, out, in)
	}
	big := Body(1 << 20)
	if err := cc.Invoke(ctx, GRPCUnary, big, &out); err != nil || !bytes.Equal(out, big) {
		t.Fatalf("unary 1 MiB: %v, %d bytes back", err, len(out))
	}

	st, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, GRPCStream)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := []byte(strings.Repeat("x", i*1000))
		if err := st.SendMsg(msg); err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := st.RecvMsg(&got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("stream message %d: %v, %d bytes back, want %d", i, err, len(got), len(msg))
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var extra []byte
	if err := st.RecvMsg(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("after half-close: %v, want io.EOF (status OK)", err)
	}

	for _, tc := range []struct {
		value string
		want  codes.Code
	}{{"14", codes.Unavailable}, {"4", codes.DeadlineExceeded}, {"0", codes.OK}, {"99", codes.InvalidArgument}} {
		mctx := metadata.AppendToOutgoingContext(ctx, GRPCStatusKey, tc.value)
		err := cc.Invoke(mctx, GRPCUnary, in, &out)
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s=%s: status %v (%v), want %v", GRPCStatusKey, tc.value, got, err, tc.want)
		}
	}
	if got := s.Requests(); got != 7 {
		t.Errorf("Requests() = %d, want 7 (6 unary calls, 1 stream)", got)
	}
}

// TestProtocolsShareThePort: a connection that sends nothing for a while
// does not hold up others, a half-sent preface prefix still ends up as h2c,
// and Close ends connections still being classified.
func TestProtocolsShareThePort(t *testing.T) {
	s, err := Start(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	slow, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("PR")); err != nil {
		t.Fatal(err)
	}
	resp, err := h2cClient().Get("http://" + s.Addr() + "/?size=1")
	if err != nil {
		t.Fatalf("h2c beside a silent connection: %v", err)
	}
	resp.Body.Close()
	// The rest of the preface and a SETTINGS frame: the server answers with
	// its own SETTINGS (an h2 frame header: type 0x4 at byte 3).
	if _, err := slow.Write([]byte(h2Preface[2:] + "\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
		t.Fatal(err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [9]byte
	if _, err := io.ReadFull(slow, hdr[:]); err != nil || hdr[3] != 0x4 {
		t.Fatalf("slow preface: %v, frame header %x, want a SETTINGS frame", err, hdr)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on a connection still being classified")
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(hdr[:1]); err == nil {
		t.Error("a silent connection stayed open after Close")
	}
}

// TestH2Clients: real HTTP/2 clients from Debian's packages get their
// answers over h2c with prior knowledge: curl, and h2load with several
// streams per connection.
func TestH2Clients(t *testing.T) {
	s := start(t, Options{Size: 64})
	curl := testenv.NeedProgram(t, "curl", "curl")
	out, err := exec.Command(curl, "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code} %{size_download}",
		"http://"+s.Addr()+"/?size=1000").CombinedOutput()
	if err != nil || string(out) != "2 200 1000" {
		t.Errorf("curl --http2-prior-knowledge: %v, %q, want \"2 200 1000\"", err, out)
	}
	h2load := testenv.NeedProgram(t, "h2load", "nghttp2-client")
	out, err = exec.Command(h2load, "-n", "200", "-c", "2", "-m", "10", "http://"+s.Addr()+"/").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "200 succeeded, 0 failed, 0 errored") {
		t.Errorf("h2load: %v\n%s", err, out)
	}
}
