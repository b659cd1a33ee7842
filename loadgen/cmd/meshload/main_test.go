package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meshbench/meshbench/loadgen/internal/report"
	"github.com/meshbench/meshbench/scenarios/echo"
)

func TestFlagErrorsExitTwo(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "exactly one URL"},
		{[]string{"-rate", "-1", "http://x/"}, "-rate"},
		{[]string{"-c", "0", "http://x/"}, "-c 0"},
		{[]string{"-d", "0s", "http://x/"}, "-d 0s"},
		{[]string{"-timeout", "0s", "http://x/"}, "-timeout"},
		{[]string{"-streams", "4", "http://x/"}, "-streams needs -http2 or -grpc"},
		{[]string{"-body-size", "10", "-body-file", "f", "http://x/"}, "exclusive"},
		{[]string{"-cert", "c.pem", "https://x/"}, "-cert and -key"},
		{[]string{"-H", "NoColon", "http://x/"}, `-H "NoColon"`},
		{[]string{"ftp://x/"}, "want http://"},
		{[]string{"-insecure", "http://x/"}, "need an https:// URL"},
		{[]string{"-profile", "heap", "http://x/"}, "-profile"},
		{[]string{"-nosuch", "http://x/"}, "flag provided but not defined"},
		{[]string{"-engine", "threads", "http://x/"}, `-engine "threads"`},
		{[]string{"-engine", "epoll", "-http2", "http://x/"}, "-engine epoll runs HTTP/1.1 over plain TCP"},
		{[]string{"-engine", "epoll", "-insecure", "https://x/"}, "-engine epoll runs HTTP/1.1 over plain TCP"},
		{[]string{"-expect", "2xy", "http://x/"}, `-expect "2xy": item "2xy": want a status 100-599 or a class like 2xx`},
		{[]string{"-expect", "200,,204", "http://x/"}, `-expect "200,,204": item 2 is empty`},
		{[]string{"-expect", "", "http://x/"}, `-expect "": empty`},
		{[]string{"-max-failure-ratio", "1.5", "http://x/"}, "-max-failure-ratio 1.5: want a ratio from 0 to 1"},
		{[]string{"-max-failure-ratio", "-0.1", "http://x/"}, "-max-failure-ratio -0.1"},
		{[]string{"-max-failure-ratio", "NaN", "http://x/"}, "-max-failure-ratio NaN"},
		{[]string{"-max-failure-ratio", "lots", "http://x/"}, `invalid value "lots" for flag -max-failure-ratio`},
		{[]string{"-grpc", "-http2", "http://x/"}, "-grpc and -http2 are exclusive"},
		{[]string{"-grpc", "-method", "POST", "http://x/"}, "-method does not apply to -grpc"},
		{[]string{"-grpc", "-engine", "epoll", "http://x/"}, "-grpc uses goroutines"},
		{[]string{"-grpc", "-expect", "2xx", "http://x/"}, `-expect "2xx": item "2xx": want a gRPC status code`},
		{[]string{"-grpc", "-grpc-method", "Unary", "http://x/"}, `-grpc-method "Unary": want /package.Service/Method`},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("meshload %v: exit %d, stderr %q; want 2 mentioning %q", c.args, code, errb.String(), c.want)
		}
	}
}

// TestRunWritesOutputs runs the command against a loopback server and
// reads every output back through its reader.
func TestRunWritesOutputs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "yes" {
			w.WriteHeader(400)
			return
		}
		_, _ = w.Write([]byte("hello"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	files := map[string]string{}
	for _, f := range []string{"json", "hlog", "hgrm", "fortio-json"} {
		files[f] = filepath.Join(dir, "out."+f)
	}
	var out, errb bytes.Buffer
	code := run([]string{"-rate", "200", "-c", "4", "-d", "2s", "-warmup", "100ms", "-H", "X-Test: yes",
		"-json", files["json"], "-hlog", files["hlog"], "-hgrm", files["hgrm"], "-fortio-json", files["fortio-json"], srv.URL + "/"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "p99") {
		t.Errorf("summary lacks percentiles:\n%s", out.String())
	}
	open := func(name string) *os.File {
		f, err := os.Open(files[name])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	j, err := report.ReadJSON(open("json"))
	if err != nil {
		t.Fatal(err)
	}
	if j.StatusCodes["200"] == 0 || j.Errors != 0 || j.TargetRate != 200 || j.Connections != 4 {
		t.Fatalf("json: %+v", j)
	}
	if j.AchievedRate < 198 || j.AchievedRate > 202 {
		t.Errorf("achieved %.1f req/s at -rate 200", j.AchievedRate)
	}
	hs, err := report.ReadHlog(open("hlog"))
	if err != nil || len(hs) != 2 {
		t.Fatalf("hlog: %d intervals, %v", len(hs), err)
	}
	var n int64
	for _, h := range hs {
		n += h.TotalCount()
	}
	if uint64(n) != j.Requests {
		t.Errorf("hlog holds %d requests, json %d", n, j.Requests)
	}
	f, err := report.ReadFortioJSON(open("fortio-json"))
	if err != nil {
		t.Fatal(err)
	}
	if f.RetCodes[200] == 0 {
		t.Errorf("fortio RetCodes %v", f.RetCodes)
	}
	if b, err := os.ReadFile(files["hgrm"]); err != nil || !strings.Contains(string(b), "#[Mean") {
		t.Errorf("hgrm: %v\n%s", err, b)
	}
}

// TestFailuresDecideExitCode: a server that answers every fourth request
// with another status. Those responses are counted as failures (unless
// -expect names their status), kept out of the latency of successes in
// every output, and decide the exit code against -max-failure-ratio — after
// every output has been written.
func TestFailuresDecideExitCode(t *testing.T) {
	tests := []struct {
		name     string
		status   int // what every fourth request gets
		args     []string
		exit     int
		failures bool   // the other status is a failure
		stderr   string // must appear on stderr ("": no "meshload:" line there; warnings may be)
	}{
		{"any failure fails by default", 503, nil, 1, true, "requests failed ("},
		{"ratio 0 fails", 503, []string{"-max-failure-ratio", "0"}, 1, true, "above -max-failure-ratio 0"},
		{"ratio above the share passes", 503, []string{"-max-failure-ratio", "0.5"}, 0, true, ""},
		{"expected statuses are successes", 404, []string{"-expect", "200,404"}, 0, false, ""},
		{"a class", 404, []string{"-expect", "2xx,4xx"}, 0, false, ""},
		{"404 is not 2xx", 404, nil, 1, true, "unexpected status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, engine := range []string{"goroutines", "epoll"} {
				t.Run(engine, func(t *testing.T) {
					var n atomic.Int64
					srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
						if n.Add(1)%4 == 0 {
							w.WriteHeader(tc.status)
						}
					}))
					defer srv.Close()
					dir := t.TempDir()
					jsonOut, hlogOut, fortioOut := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.hlog"), filepath.Join(dir, "fortio.json")
					args := append([]string{"-quiet", "-engine", engine, "-rate", "200", "-c", "4", "-d", "1s", "-warmup", "100ms",
						"-json", jsonOut, "-hlog", hlogOut, "-fortio-json", fortioOut}, tc.args...)
					var out, errb bytes.Buffer
					code := run(append(args, srv.URL+"/"), &out, &errb)
					if code != tc.exit || (tc.stderr == "" && strings.Contains(errb.String(), "meshload:")) || !strings.Contains(errb.String(), tc.stderr) {
						t.Fatalf("exit %d, stderr %q; want %d and %q", code, errb.String(), tc.exit, tc.stderr)
					}
					checkClassified(t, jsonOut, hlogOut, fortioOut, tc.status, tc.failures)
				})
			}
		})
	}
}

// checkClassified reads a run's outputs back: the other status is counted
// under failures (or successes), successes alone are timed in latency_us
// and the hlog, and fortio's file holds the failures the way fortio does.
func checkClassified(t *testing.T, jsonOut, hlogOut, fortioOut string, other int, failures bool) {
	t.Helper()
	open := func(name string) *os.File {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	j, err := report.ReadJSON(open(jsonOut))
	if err != nil {
		t.Fatal(err)
	}
	ok, bad := j.StatusCodes["200"], j.StatusCodes[fmt.Sprint(other)]
	if ok == 0 || bad == 0 || j.Errors != 0 || ok+bad != j.Requests {
		t.Fatalf("status codes %v, %d errors, %d requests", j.StatusCodes, j.Errors, j.Requests)
	}
	wantOK, wantBad := ok, bad
	if !failures {
		wantOK, wantBad = ok+bad, 0
	}
	if j.Successes != wantOK || j.UnexpectedStatus != wantBad || j.Failures != wantBad ||
		j.SuccessRatio != float64(wantOK)/float64(j.Requests+j.Errors) {
		t.Fatalf("successes %d, unexpected %d, failures %d, ratio %v; want %d, %d of %d",
			j.Successes, j.UnexpectedStatus, j.Failures, j.SuccessRatio, wantOK, wantBad, j.Requests)
	}
	var timed int64
	var failed uint64
	for _, iv := range j.Intervals {
		timed += iv.Count
		failed += iv.Failures
	}
	if uint64(timed) != wantOK || failed != wantBad {
		t.Fatalf("intervals time %d successes and count %d failures; want %d and %d", timed, failed, wantOK, wantBad)
	}
	if (j.UnexpectedLatencyUS.Max > 0) != failures || j.ErrorLatencyUS != (report.LatencyJSON{}) {
		t.Fatalf("unexpected_latency_us %+v, error_latency_us %+v", j.UnexpectedLatencyUS, j.ErrorLatencyUS)
	}
	hs, err := report.ReadHlog(open(hlogOut))
	if err != nil {
		t.Fatal(err)
	}
	var logged int64
	for _, h := range hs {
		logged += h.TotalCount()
	}
	if uint64(logged) != wantOK {
		t.Fatalf("the hlog holds %d latencies, want the %d successes", logged, wantOK)
	}
	f, err := report.ReadFortioJSON(open(fortioOut))
	if err != nil {
		t.Fatal(err)
	}
	if uint64(f.RetCodes[other]) != bad || uint64(f.DurationHistogram.Count) != j.Requests ||
		uint64(f.ErrorsDurationHistogram.Count) != wantBad {
		t.Fatalf("fortio RetCodes %v, DurationHistogram %d, ErrorsDurationHistogram %d; want %d requests, %d failures",
			f.RetCodes, f.DurationHistogram.Count, f.ErrorsDurationHistogram.Count, j.Requests, wantBad)
	}
}

// TestNothingFinishedFails: a run whose measured part finished no request
// measured nothing, and says so.
func TestNothingFinishedFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	var out, errb bytes.Buffer
	// At 0.5 req/s the only request due before the end (at 2 s) is the one
	// at 0 s, in the warm-up.
	code := run([]string{"-quiet", "-rate", "0.5", "-warmup", "1s", "-d", "1s", srv.URL + "/"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "no request finished") {
		t.Fatalf("exit %d, stderr %q; want 1 saying no request finished", code, errb.String())
	}
}

// TestGRPCLoad: -grpc drives unary calls at a fixed rate over h2c with
// several streams per connection; gRPC status codes are counted where HTTP
// statuses are, OK is the default success, any other status is a failure
// that decides the exit code, and -expect takes gRPC codes by name.
func TestGRPCLoad(t *testing.T) {
	s, err := echo.Start(echo.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	url := "http://" + s.Addr() + "/"
	for _, tc := range []struct {
		name      string
		args      []string
		exit      int
		wantCode  string // the only key of status_codes
		successes bool
		summary   string
	}{
		{"ok", nil, 0, "0", true, "status codes: OK: "},
		{"chosen failure", []string{"-H", "echo-grpc-status: 14"}, 1, "14", false, "UNAVAILABLE: "},
		{"failure expected", []string{"-H", "echo-grpc-status: 14", "-expect", "OK,unavailable"}, 0, "14", true, "status codes: UNAVAILABLE: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.json")
			var stdout, stderr bytes.Buffer
			args := append([]string{"-grpc", "-rate", "200", "-c", "2", "-streams", "4", "-d", "1s", "-warmup", "100ms",
				"-body-size", "512", "-json", out}, tc.args...)
			code := run(append(args, url), &stdout, &stderr)
			if code != tc.exit {
				t.Fatalf("exit %d, want %d: %s", code, tc.exit, stderr.String())
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			j, err := report.ReadJSON(f)
			if err != nil {
				t.Fatal(err)
			}
			if j.Protocol != "grpc" || j.Streams != 4 || j.Requests < 190 || len(j.StatusCodes) != 1 || j.StatusCodes[tc.wantCode] != j.Requests {
				t.Fatalf("json: protocol %q streams %d requests %d status codes %v", j.Protocol, j.Streams, j.Requests, j.StatusCodes)
			}
			if (j.Successes == j.Requests) != tc.successes || (j.UnexpectedStatus == j.Requests) == tc.successes {
				t.Errorf("successes %d, unexpected %d of %d", j.Successes, j.UnexpectedStatus, j.Requests)
			}
			if !strings.Contains(stdout.String(), tc.summary) {
				t.Errorf("summary lacks %q:\n%s", tc.summary, stdout.String())
			}
		})
	}
	if got := s.Requests(); got < 3*190 {
		t.Errorf("the echo saw %d calls", got)
	}
}
