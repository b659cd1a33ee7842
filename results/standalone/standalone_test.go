package standalone

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []float64{7}, Summary{7, 7, 7, 1}},
		{"odd, unsorted", []float64{3, 1, 2}, Summary{2, 1, 3, 3}},
		{"even: mean of the two middle", []float64{4, 1, 3, 2}, Summary{2.5, 1, 4, 4}},
		{"odd, extremes first", []float64{100, 1, 50, 2, 3}, Summary{3, 1, 100, 5}},
		{"negative values", []float64{-1, -3, 2}, Summary{-1, -3, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			if got := Summarize(tt.in); got != tt.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatalf("Summarize reordered its input: %v, was %v", tt.in, in)
				}
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		s    Summary
		dec  int
		want string
	}{
		{Summary{}, 1, "–"},
		{Summary{49350, 41422, 50799, 5}, 0, "49,350 (41,422–50,799)"},
		{Summary{1234567.5, 1234567.5, 1234567.5, 3}, 1, "1,234,567.5"},
		{Summary{-0.001, -0.004, 1.2, 3}, 2, "0.00 (0.00–1.20)"},
		{Summary{-1500, -2000, -1000, 2}, 0, "-1,500 (-2,000–-1,000)"},
		{Summary{12.77, 12.12, 12.99, 5}, 2, "12.77 (12.12–12.99)"},
	}
	for _, tt := range tests {
		if got := tt.s.format(tt.dec); got != tt.want {
			t.Errorf("%+v.format(%d) = %q, want %q", tt.s, tt.dec, got, tt.want)
		}
	}
}

// TestRenderGolden renders each fixture under testdata/<bench>/ and compares
// with testdata/<bench>.golden.md (go test -run Golden -update rewrites them).
func TestRenderGolden(t *testing.T) {
	for _, fixture := range []string{
		"hopbench/20261201T100000Z.tsv",
		"pairbench/20261201T100000Z-loops0.tsv",
		"loadbench/20261201T100000Z.tsv",
		"idlebench/20261201T100000Z.tsv",
		"h2idle/20261201T100000Z.tsv",
		"gobench/20261201T100000Z.txt",
		"tailnoise/20261201T100000Z.tsv",
		"abbench/20261201T100000Z.txt",
	} {
		t.Run(fixture, func(t *testing.T) {
			got, err := RenderFile(filepath.Join("testdata", fixture), fixture)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", strings.SplitN(fixture, "/", 2)[0]+".golden.md")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s renders differently from %s:\n--- got\n%s\n--- want\n%s", fixture, golden, got, want)
			}
		})
	}
}

// TestRenderFigures checks, independently of the golden files, the figures
// a reader relies on, computed by hand from the fixtures.
func TestRenderFigures(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string
	}{
		// added p99 per round 0.2, 0.1, 0.8 ms: median 0.2, MAD 0.1;
		// 2.378 × 1.4826 × 0.1 / 0.2 = 176 %. Concurrent: 0.2, 0.21, 0.19:
		// MAD 0.01, 18 %.
		{"tailnoise/20261201T100000Z.tsv", []string{
			"| 1000 | sequential | 0.050 (0.000) | 0.200 (0.100) | 0.600 | 176 % | 3 | 0 |",
			"| 1000 | concurrent | 0.030 (0.000) | 0.200 (0.010) | 1.050 | 18 % | 3 | 0 |",
		}},
		{"hopbench/20261201T100000Z.tsv", []string{
			// direct req/s 30000.5, 10000.4, 20000.6: median is the middle, not the first or mean
			"| direct | 20,001 (10,000–30,000) |",
			// meshproxy: 3 non-2xx + 1 socket error in round 2
			"| meshproxy | 21,000 (20,000–22,000) | 0.200 (0.190–0.210) | 1.500 (1.400–1.600) | 30.0 (29.0–34.0) | 9.0 | 11.0 | **4** | 3 |",
			"meshproxy at or below nginx's in 2 of 3 rounds",
			"0.02 (0.00–0.10) CPUs",
		}},
		{"pairbench/20261201T100000Z-loops0.tsv", []string{
			// added p50 per round: 1.4-0.4 = 1.0 and 2.0-0.8 = 1.2 -> median 1.10,
			// not median(target) - median(direct) = 1.70 - 0.60 = 1.10 by luck: see mtls
			"| 1000 | pair, plaintext hop | 998 (997–998) | 1.70 (1.40–2.00) | 2.20 (2.00–2.40) | 1.10 (1.00–1.20) |",
			// mtls added p50: 1.5-0.4 = 1.1, 2.4-0.8 = 1.6 -> 1.35; added p99: 2.0, 2.4 -> 2.20
			"| 1000 | pair, mTLS hop | 996 (996–997) | 1.95 (1.50–2.40) | 3.30 (3.00–3.60) | 1.35 (1.10–1.60) | 2.20 (2.00–2.40) | 71.0 (70.0–72.0) | 66.0 (65.0–67.0) | 9.5 / 9.9 | 14.4 / 14.1 | **5** | 2 |",
			"| 5000 | direct (no proxy) | 4,992 (4,990–4,995) | 0.40 (0.30–0.50) | 0.80 (0.70–0.90) | – | – | – | – | – | – | 0 | 2 |",
		}},
		{"loadbench/20261201T100000Z.tsv", []string{
			"| meshload-1loop | 51,000 (47,000–52,000) | 12.80 (12.50–12.90) | 0 | 3 |",
			"meshload-1loop at or below wrk-t1's in 2 of 3 rounds",
			"meshload-2loops at or above wrk-t2's in 1 of 3 rounds",
		}},
		{"idlebench/20261201T100000Z.tsv", []string{
			// bytes per connection 3072, 2867, 3482: the median is the first
			// round's; RSS after 39216, 37250, 43240 KiB -> 38.3 (36.4–42.2) MiB
			"| 0 (one per core) | 10,000 | 10,000 | 9.0 | 38.3 (36.4–42.2) | 3,072 (2,867–3,482) | 614 (594–666) | 10,000 | 3 |",
			// round 2 kept 9,998 of 10,000 open: held shows the fewest, in bold;
			// its heap was not measured, so the heap median is of 717 and 727
			"| 1 | 10,000 | **9,998** | 9.1 | 48.1 (28.6–49.1) | 4,096 (2,048–4,198) | 722 (717–727) | 10,000 (9,998–10,000) | 3 |",
			// the worst single round, not a median, is held against 4 KB
			"Largest RSS per connection in any round: 4,198 bytes (eventLoops 1), **over** the target of 4 KB (4,096 bytes).",
			"CPUs (median, min–max over 6 runs)",
		}},
		{"h2idle/20261201T100000Z.tsv", []string{
			// per stream 3686, 4219, 3072: the median is the first round's;
			// RSS with streams 46740, 52000, 40650 KiB -> 45.6 (39.7–50.8) MiB
			"| 0 (one per core) | 100 | 10,000 | 100 / 10,000 | 10.0 | 10.5 (10.4–10.5) | 45.6 (39.7–50.8) | 5,120 (4,096–6,144) | 3,686 (3,072–4,219) | 3,072 | 2,832 (2,628–2,934) | 141 (141–143) | 3 |",
			// round 2 held 99 connections and 9,990 streams: the fewest, in
			// bold; its heap was not measured, so the heap per stream is
			// the median of 2,724 and 2,776
			"| 1 | 100 | 10,000 | **99** / **9,990** | 10.1 | 10.5 (10.5–10.6) | 45.7 (43.7–64.5) | 4,608 (4,096–5,120) | 3,686 (3,482–5,662) | 3,072 | 2,750 (2,724–2,776) | 140 (139–140) | 3 |",
			// the worst single round (66,000 KiB), not a median, is held against 64 MiB
			"Largest RSS with the streams open in any round: 64.5 MiB (eventLoops 1, 10,000 streams), **over** the target of 64 MiB for 10,000 streams.",
			"(fewest: 9,950 of 10,000)",
			"CPUs (median, min–max over 6 runs)",
		}},
		// before 100, 200, 300 and after 110, 180, 330 ns/op in rounds 1-3:
		// the per-round ratios 1.10, 0.90, 1.10 have median 1.100, while
		// the ratio of the medians would be 180/200 = 0.900.
		{"abbench/20261201T100000Z.txt", []string{
			"| `engine.BenchmarkRealPath/inbound` | 200 (100–300) | 180 (110–330) | 1.100 (0.900–1.100) | 0 → 0 (0–1) | 3 |",
			"Before: `0000000000bb engine: old`. After: `1111111111aa engine: new`.",
		}},
		{"gobench/20261201T100000Z.txt", []string{
			"| `balance.BenchmarkP2C` | 12.5 (12.0–13.5) | 0 | 0 | 3 |",
			"| `identity.BenchmarkHandshakeFull` | 950,000 (910,000–1,030,000) | 146,650 (146,600–146,700) | 1,088 (1,088–1,089) | 3 |",
			"| `identity.BenchmarkForwardPair1KiB/mtls/parallel16` | 91,000 (89,000–93,000) | 200 (109–267) | 2 | 3 |",
			"0.02 (0.00–0.05) CPUs (median, min–max over 2 packages)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := RenderFile(filepath.Join("testdata", tt.fixture), tt.fixture)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("rendering of %s lacks %q:\n%s", tt.fixture, w, got)
				}
			}
		})
	}
}
