package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/loadgen/internal/report"
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
		{[]string{"-streams", "4", "http://x/"}, "-streams needs -http2"},
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
