package report

import (
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/results/schema"
)

// soakRun is a result with one soak step: a client sidecar that stayed
// flat, and a restarted server sidecar whose samples stop while it was down.
func soakRun() *schema.Run {
	var client, server []schema.RSSSample
	for ts := 0.0; ts <= 600; ts += 5 {
		client = append(client, schema.RSSSample{TS: ts, MiB: 14 + ts/1000})
		if ts < 120 || ts >= 185 {
			server = append(server, schema.RSSSample{TS: ts, MiB: 12})
		}
	}
	ratio := 1.0
	started := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	return &schema.Run{
		Schema: schema.Version, ID: "20261205T100000Z-soak", Started: started, Finished: started.Add(11 * time.Minute), Mode: "loopback",
		Scenario: schema.Scenario{Name: "soak", File: "scenarios/soak.yaml"},
		Steps: []schema.Step{{
			Target: "meshproxy-pair-mtls", Kind: "meshproxy", Topology: "sidecar-pair", TLS: "mtls", Protocol: "http/1.1",
			Rate: 500, Repetition: 1, Status: "ok", Started: started,
			Load: &schema.Load{TargetRate: 500, AchievedRate: 500, Requests: 300000, Successes: 299998, UnexpectedStatus: 2,
				StatusCodes: map[string]uint64{"200": 299998, "502": 2}, SuccessRatio: &ratio},
			Proxies: []schema.Proxy{{Name: "client-sidecar"}, {Name: "server-sidecar-1"}, {Name: "server-sidecar-2"}},
			Soak: &schema.Soak{
				OK: true, Failures: 2, FailureBudget: 68, ExpectedFailuresPerKill: 17,
				Reloads:    schema.SoakEvents{EveryS: 10, Planned: 59, Done: 59, Applied: map[string]int{"client-sidecar": 59}},
				Rotations:  schema.SoakEvents{EveryS: 60, Planned: 9, Done: 9, Applied: map[string]int{"client-sidecar": 9, "server-sidecar-1": 9}},
				Kills:      schema.SoakKills{SoakEvents: schema.SoakEvents{EveryS: 120, Planned: 4, Done: 4}, Pod: "server-sidecar-2 + echo 127.0.0.1:1", DownS: 5, Restarted: 4, ServedAfterRestart: []uint64{28000, 29000, 29500, 14000}},
				SlowReader: schema.SoakSlowReader{Size: 1 << 20, RateBPS: 100 << 10, Responses: 58, Bytes: 58 << 20},
				RSS: []schema.SoakRSS{
					{Name: "client-sidecar", Samples: client, Judged: true, WarmMiB: 14.12, LastMiB: 14.58, GrowthMiB: 0.46, LimitMiB: 5, Flat: true},
					{Name: "server-sidecar-2", Samples: server, RestartsAtS: []float64{182.5}, Note: "restarted 1 time by the soak's kills: shown, not judged (each incarnation starts afresh)"},
				},
			},
		}},
	}
}

// A soak step gets its own section: verdict, failures against the budget,
// what each disturbance did, the RSS verdict per proxy, RSS once a minute,
// and in HTML a line of RSS over time per proxy.
func TestSoakSection(t *testing.T) {
	runs := []*schema.Run{soakRun()}
	md := render(t, Markdown, runs, nil)
	for _, want := range []string{
		"### Soak: meshproxy-pair-mtls at 500 req/s",
		"**Passed:**",
		"Failed requests (the load's and the slow reader's): 2; budget 68 (17 per kill × 4 kills).",
		"| config reloads | 10 s | 59 | 59 | client-sidecar 59 |",
		"| certificate rotations | 60 s | 9 | 9 | client-sidecar 9, server-sidecar-1 9 |",
		"| pod kills | 120 s | 4 | 4 |",
		"4 of 4 back; requests served after each restart: 28,000, 29,000, 29,500, 14,000",
		"58 responses of 1,048,576 B at 102,400 B/s, 58.0 MiB read and checked, 0 failed",
		"| client-sidecar | 121 | 14.1 | 14.6 | 0.5 | 5.0 | flat |",
		"| server-sidecar-2 | 108 | – | – | – | – | not judged: restarted 1 time",
		"| time | client-sidecar (MiB) | server-sidecar-2 (MiB) |",
		"| 120 s | 14.1 | – |", // the server pod was down then
		"| 600 s | 14.6 | 12.0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "<svg") {
		t.Error("markdown has a chart")
	}

	h := render(t, HTML, runs, nil)
	wellFormed(t, h)
	if !strings.Contains(h, "<title>RSS per proxy over the soak</title>") {
		t.Fatal("no RSS chart in the HTML")
	}
	chart := h[strings.Index(h, "<title>RSS per proxy over the soak</title>"):]
	chart = chart[:strings.Index(chart, "</svg>")]
	// Two lines for the restarted proxy (before and after its restart),
	// one legend entry each proxy.
	if n := strings.Count(chart, "<polyline"); n != 3 {
		t.Errorf("%d polylines, want 3 (client, server before and after its restart)", n)
	}
	for _, want := range []string{">client-sidecar</text>", ">server-sidecar-2</text>"} {
		if strings.Count(chart, want) != 1 {
			t.Errorf("legend: %q %d times, want once", want, strings.Count(chart, want))
		}
	}

	// A failed soak says why at the top of its section.
	r := soakRun()
	r.Steps[0].Status, r.Steps[0].Error = "failed", "soak: client-sidecar RSS grew"
	r.Steps[0].Soak.OK, r.Steps[0].Soak.Reasons = false, []string{"client-sidecar RSS grew 9.0 MiB (median 14.0 → 23.0 MiB), more than the 5.0 MiB allowed"}
	md = render(t, Markdown, []*schema.Run{r}, nil)
	if !strings.Contains(md, "**FAILED:** client-sidecar RSS grew 9.0 MiB (median 14.0 → 23.0 MiB), more than the 5.0 MiB allowed.") {
		t.Errorf("failed soak: %s", md)
	}
}
