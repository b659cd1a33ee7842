package sidecar

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/balance"
)

// TestOutlierEjection: an endpoint that accepts connections but fails the
// exchanges it gets (a 502/503/504, a reset before answering, a response
// cut mid-body, a malformed body) is ejected after
// balance.OutlierConsecutive failures in a row, so the backend's healthy
// endpoint takes the traffic; a 500 is the application's answer, not a
// gateway failure, and ejects nothing. Without outlier detection the bad
// endpoint gets about half of the requests.
func TestOutlierEjection(t *testing.T) {
	const requests = 100
	// Each ejection the test can live through (1 + 2 + 4 s, on a loaded
	// machine) lets one trial request through.
	const maxToBad = balance.OutlierConsecutive + 3
	for _, tc := range []struct {
		name  string
		reply string // what the bad endpoint writes after a request head
		hang  bool   // then it neither answers nor closes
		eject bool
	}{
		{name: "503", reply: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndown", eject: true},
		{name: "504", reply: "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", eject: true},
		{name: "reset before answering", reply: "", eject: true},
		{name: "cut mid-body", reply: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", eject: true},
		{name: "malformed chunked body", reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", eject: true},
		{name: "no answer before the idle timeout", hang: true, eject: true},
		{name: "500 is an answer", reply: "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", eject: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var toBad atomic.Int64
			bad := rawUpstream(t, func(c net.Conn) {
				readHead(c)
				toBad.Add(1)
				_, _ = io.WriteString(c, tc.reply)
				if tc.hang {
					_, _ = io.Copy(io.Discard, c)
				}
			})
			good := startEcho(t, "good", 0)
			s := startSidecar(t, &mesh{
				services:   []svc{{name: "web", ports: []string{portOf(t, bad), portOf(t, good.Addr())}}},
				extraProxy: "  timeouts: {idle: 200ms}\n",
			})

			failed := sendSequential(t, s.out, "web", requests)
			text := s.metricsText(t)
			ejections, _ := metricLine(text, "meshproxy_endpoint_ejections_total", `reason="gateway_failures"`)
			t.Logf("%d of %d requests reached the bad endpoint, %d failed; ejections %s",
				toBad.Load(), requests, failed, ejections)
			if !tc.eject {
				if toBad.Load() < requests/5 || ejections != "0" {
					t.Errorf("an endpoint answering 500 got %d of %d requests (ejections %s); want about half and no ejection",
						toBad.Load(), requests, ejections)
				}
				return
			}
			if toBad.Load() > maxToBad || failed > maxToBad {
				t.Errorf("the failing endpoint got %d of %d requests (%d failed at the client), want at most %d: not ejected",
					toBad.Load(), requests, failed, maxToBad)
			}
			if ejections == "" || ejections == "0" {
				t.Errorf("meshproxy_endpoint_ejections_total{reason=\"gateway_failures\"} = %q, want > 0", ejections)
			}
		})
	}

	t.Run("a backend's only endpoint is never ejected", func(t *testing.T) {
		var toBad atomic.Int64
		bad := rawUpstream(t, func(c net.Conn) {
			readHead(c)
			toBad.Add(1)
			_, _ = io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		})
		s := startSidecar(t, &mesh{services: []svc{{name: "solo", ports: []string{portOf(t, bad)}}}})
		const n = 3 * balance.OutlierConsecutive
		sendSequential(t, s.out, "solo", n)
		if toBad.Load() != n {
			t.Errorf("the only endpoint got %d of %d requests; the proxy answered the rest itself", toBad.Load(), n)
		}
	})
}

// sendSequential sends n GET requests for host to addr one after the
// other, each on a new connection, and returns how many did not end in a
// complete 2xx response.
func sendSequential(t *testing.T, addr, host string, n int) int {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	failed := 0
	for range n {
		req, err := http.NewRequest("GET", "http://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			failed++
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode/100 != 2 {
			failed++
		}
	}
	return failed
}
