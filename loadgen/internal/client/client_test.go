package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

func TestNewValidates(t *testing.T) {
	u := func(s string) *url.URL { return mustURL(t, s) }
	tests := []struct {
		name string
		o    Options
	}{
		{"no URL", Options{}},
		{"ftp scheme", Options{URL: u("ftp://h/")}},
		{"no host", Options{URL: u("http:///p")}},
		{"bad port", Options{URL: u("http://h:99999/")}},
		{"bad method", Options{URL: u("http://h/"), Method: "GE T"}},
		{"bad header name", Options{URL: u("http://h/"), Headers: http.Header{"X A": {"1"}}}},
		{"header value with CRLF", Options{URL: u("http://h/"), Headers: http.Header{"X-A": {"1\r\nX-B: 2"}}}},
		{"Content-Length header", Options{URL: u("http://h/"), Headers: http.Header{"Content-Length": {"3"}}}},
		{"Transfer-Encoding header", Options{URL: u("http://h/"), Headers: http.Header{"transfer-encoding": {"chunked"}}}},
		{"empty Host", Options{URL: u("http://h/"), Headers: http.Header{"Host": {""}}}},
		{"negative timeout", Options{URL: u("http://h/"), Timeout: -time.Second}},
		{"negative streams", Options{URL: u("http://h/"), HTTP2: true, Streams: -1}},
		{"h2 TE", Options{URL: u("http://h/"), HTTP2: true, Headers: http.Header{"Te": {"gzip"}}}},
	}
	for _, tt := range tests {
		if c, err := New(tt.o); err == nil {
			c.Close()
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	for _, s := range []string{"http://h/", "https://h:8443/p?q", "HTTP://[::1]:80/", "https://h/"} {
		for _, h2 := range []bool{false, true} {
			c, err := New(Options{URL: u(s), HTTP2: h2, Headers: http.Header{"Connection": {"keep-alive"}}})
			if err != nil {
				t.Errorf("New(%s, h2=%v): %v", s, h2, err)
				continue
			}
			c.Close()
		}
	}
}

func TestDefaults(t *testing.T) {
	p, err := prepare(Options{URL: mustURL(t, "https://u:p@example.test/a#frag")})
	if err != nil {
		t.Fatal(err)
	}
	if p.method != "GET" || p.timeout != DefaultTimeout || p.streams != 1 || p.addr != "example.test:443" ||
		p.host != "example.test" || p.tls.ServerName != "example.test" || p.url.User != nil || p.url.Fragment != "" {
		t.Errorf("prepared %+v", p)
	}
	p, err = prepare(Options{URL: mustURL(t, "http://[::1]/")})
	if err != nil || p.addr != "[::1]:80" || p.tls != nil {
		t.Errorf("prepared %+v, %v", p, err)
	}
}

func TestKind(t *testing.T) {
	timeoutErr := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&kindError{result.ErrConnect, errors.New("x")}, result.ErrConnect},
		{fmt.Errorf("wrapped: %w", &kindError{result.ErrProtocol, errors.New("x")}), result.ErrProtocol},
		{context.DeadlineExceeded, result.ErrTimeout},
		{timeoutErr, result.ErrTimeout},
		{io.EOF, result.ErrReset},
		{io.ErrUnexpectedEOF, result.ErrReset},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, result.ErrReset},
		{&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, result.ErrReset},
		{errors.New("connection error: PROTOCOL_ERROR"), result.ErrProtocol},
		{errors.New("stream error: stream ID 3; INTERNAL_ERROR; received from peer"), result.ErrReset},
	}
	for _, tt := range tests {
		if got := Kind(tt.err); got != tt.want {
			t.Errorf("Kind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
