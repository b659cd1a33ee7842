package gate

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/schema"
)

// testdata/http1_bench_count3.txt is real output of
// `go test -run '^$' -bench . -benchmem -count 3 ./proxy/internal/http1`.
func TestParseGoBenchCaptured(t *testing.T) {
	f, err := os.Open("testdata/http1_bench_count3.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseGoBench(f)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{
		"http1.BenchmarkParseRequest", "http1.BenchmarkParseResponse", "http1.BenchmarkChunkedScan",
		"http1.BenchmarkChunkedScanSmallChunks", "http1.BenchmarkAppendRequestHead",
		"http1.BenchmarkAppendResponseHead", "http1.BenchmarkParseAndForward",
	}
	var names []string
	for _, g := range got {
		names = append(names, g.Name)
		if g.Runs != 3 || g.AllocsPerOp != 0 || g.BytesPerOp != 0 {
			t.Errorf("%s: %+v", g.Name, g)
		}
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("names %q, want %q", names, wantNames)
	}
	// ns/op 334.6, 346.1, 347.8: median 346.1.
	if got[0].NsPerOp != 346.1 {
		t.Errorf("ParseRequest ns/op = %v, want 346.1", got[0].NsPerOp)
	}
	// 3122, 4106, 3824: median 3824.
	if got[3].NsPerOp != 3824 {
		t.Errorf("ChunkedScanSmallChunks ns/op = %v, want 3824", got[3].NsPerOp)
	}
}

func TestParseGoBench(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []schema.GoBenchmark
		err  string
	}{
		{
			name: "two packages, medians, sub-benchmarks",
			in: `goos: linux
goarch: amd64
pkg: github.com/meshbench/meshbench/proxy/internal/engine
cpu: Some CPU
BenchmarkForward/keepalive-4     1000   900 ns/op   16 B/op   1 allocs/op
BenchmarkForward/keepalive-4     1000   950 ns/op   48 B/op   3 allocs/op
BenchmarkForward/keepalive-4     1000   800 ns/op   32 B/op   2 allocs/op
BenchmarkForward/size-1024-4     1000   1200 ns/op   0 B/op   0 allocs/op
PASS
ok  	github.com/meshbench/meshbench/proxy/internal/engine	3.1s
pkg: github.com/meshbench/meshbench/proxy/internal/route
BenchmarkCompile-4   	     100	  52000 ns/op	    9000 B/op	     120 allocs/op
BenchmarkCompile-4   	     100	  54000 ns/op	    9000 B/op	     120 allocs/op
PASS
ok  	github.com/meshbench/meshbench/proxy/internal/route	1.2s
`,
			want: []schema.GoBenchmark{
				{Name: "engine.BenchmarkForward/keepalive", NsPerOp: 900, BytesPerOp: 32, AllocsPerOp: 2, Runs: 3},
				{Name: "engine.BenchmarkForward/size-1024", NsPerOp: 1200, Runs: 1},
				{Name: "route.BenchmarkCompile", NsPerOp: 53000, BytesPerOp: 9000, AllocsPerOp: 120, Runs: 2},
			},
		},
		{
			name: "GOMAXPROCS=1 has no suffix; a name ending in -N keeps it",
			in: `pkg: example.com/x/bufs
BenchmarkCopy/size-1024   100   10 ns/op   0 B/op   0 allocs/op
BenchmarkCopy/size-64     100   5 ns/op    0 B/op   0 allocs/op
`,
			want: []schema.GoBenchmark{
				{Name: "bufs.BenchmarkCopy/size-1024", NsPerOp: 10, Runs: 1},
				{Name: "bufs.BenchmarkCopy/size-64", NsPerOp: 5, Runs: 1},
			},
		},
		{
			name: "benchmark that logs: results on a later line",
			in: `pkg: example.com/x/y
BenchmarkNoisy-2
    y_test.go:12: warming up
    y_test.go:12: warming up
 1000000	      1000 ns/op	       0 B/op	       0 allocs/op
BenchmarkQuiet-2   	 1000000	      10 ns/op	       0 B/op	       0 allocs/op
`,
			want: []schema.GoBenchmark{
				{Name: "y.BenchmarkNoisy", NsPerOp: 1000, Runs: 1},
				{Name: "y.BenchmarkQuiet", NsPerOp: 10, Runs: 1},
			},
		},
		{
			name: "without pkg line",
			in:   "BenchmarkX-8   10   5 ns/op   0 B/op   0 allocs/op\n",
			want: []schema.GoBenchmark{{Name: "BenchmarkX", NsPerOp: 5, Runs: 1}},
		},
		{
			name: "without -benchmem",
			in:   "pkg: a/b\nBenchmarkX-2   10   5 ns/op\n",
			err:  "run go test with -benchmem",
		},
		{
			name: "failed benchmark",
			in:   "pkg: a/b\nBenchmarkX-2   10   5 ns/op   0 B/op   0 allocs/op\n--- FAIL: BenchmarkY-2\nFAIL\n",
			err:  "go test reported a failure",
		},
		{
			name: "failed package",
			in:   "pkg: a/b\nBenchmarkX-2   10   5 ns/op   0 B/op   0 allocs/op\nFAIL\ta/b\t0.1s\n",
			err:  "go test reported a failure",
		},
		{
			name: "no results",
			in:   "PASS\nok  \ta/b\t0.01s\n",
			err:  "no benchmark results",
		},
		{
			name: "malformed value",
			in:   "BenchmarkX-2   10   5.x ns/op   0 B/op   0 allocs/op\n",
			err:  `value "5.x": not a number`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGoBench(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
