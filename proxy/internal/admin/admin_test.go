package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meshbench/meshbench/proxy/internal/metrics"
)

func TestRoutes(t *testing.T) {
	reg := metrics.NewRegistry()
	reg.Counter("meshproxy_config_reloads_total", "Config reloads by result.", "result", "ok").Inc()
	var ready atomic.Bool
	srv := httptest.NewServer(Handler(reg, ready.Load))
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name, path string
		ready      bool
		code       int
		contains   string
	}{
		{"live", "/live", false, 200, "live"},
		{"not ready", "/ready", false, 503, "not ready"},
		{"ready", "/ready", true, 200, "ready"},
		{"metrics", "/metrics", true, 200, `meshproxy_config_reloads_total{result="ok"} 1`},
		{"pprof index", "/debug/pprof/", true, 200, "goroutine"},
		{"pprof heap", "/debug/pprof/heap?debug=1", true, 200, "heap profile"},
		{"unknown", "/nope", true, 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ready.Store(c.ready)
			code, body := get(c.path)
			if code != c.code || !strings.Contains(body, c.contains) {
				t.Fatalf("GET %s: %d %q, want %d containing %q", c.path, code, body, c.code, c.contains)
			}
		})
	}
}
