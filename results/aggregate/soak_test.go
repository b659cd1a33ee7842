package aggregate

import (
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/schema"
)

// samples is a series of one sample every 10 s for 600 s: base MiB before
// 180 s (the end of the reference window), late MiB from 540 s on (the last
// window), and in between a linear ramp from base to late.
func samples(base, late float64) []schema.RSSSample {
	var out []schema.RSSSample
	for t := 0.0; t <= 600; t += 10 {
		v := base
		switch {
		case t >= 540:
			v = late
		case t >= 180:
			v = base + (late-base)*(t-180)/(540-180)
		}
		out = append(out, schema.RSSSample{TS: t, MiB: v})
	}
	return out
}

// The soak's RSS verdict: reference = median of [120 s, 180 s), last =
// median of [540 s, 600 s], allowed growth the larger of 10 % and 5 MiB.
func TestRSSFlat(t *testing.T) {
	rule := RSSRule{WarmS: 120, WindowS: 60, EndS: 600, MaxGrowthPercent: 10, MaxGrowthMiB: 5}
	noisy := samples(40, 40)
	for i := range noisy {
		if i%3 == 1 {
			noisy[i].MiB += 30 // a GC peak every third sample: medians ignore them
		}
	}
	spike := samples(40, 40)
	spike[len(spike)-1].MiB = 400 // one sample at the very end
	tests := []struct {
		name    string
		samples []schema.RSSSample
		rule    RSSRule
		flat    bool
		growth  float64
		limit   float64
		note    string
	}{
		{"flat", samples(40, 40), rule, true, 0, 5, ""},
		{"shrinking", samples(40, 30), rule, true, -10, 5, ""},
		{"growing", samples(40, 60), rule, false, 20, 5, ""},
		{"at the MiB bound", samples(40, 45), rule, true, 5, 5, ""},
		{"just over the MiB bound", samples(40, 45.01), rule, false, 5.01, 5, ""},
		{"at the percent bound", samples(100, 110), rule, true, 10, 10, ""},
		{"just over the percent bound", samples(100, 110.5), rule, false, 10.5, 10, ""},
		{"percent bound only", samples(100, 110), RSSRule{WarmS: 120, WindowS: 60, EndS: 600, MaxGrowthPercent: 5}, false, 10, 5, ""},
		{"noisy but flat", noisy, rule, true, 0, 5, ""},
		{"one late spike", spike, rule, true, 0, 5, ""},
		{"no reference samples", samples(40, 40)[:5], rule, false, 0, 0, "no RSS sample in the reference window [120s, 180s)"},
		{"no late samples", samples(40, 40)[:40], rule, false, 0, 0, "no RSS sample in the last window [540s, 600s]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := schema.SoakRSS{Name: "p", Samples: tt.samples}
			JudgeRSS(&r, tt.rule)
			if !r.Judged || r.Flat != tt.flat || r.Note != tt.note {
				t.Fatalf("judged %v, flat %v, note %q; want flat %v, note %q (%+v)", r.Judged, r.Flat, r.Note, tt.flat, tt.note, r)
			}
			if tt.note != "" {
				return
			}
			if r.GrowthMiB != tt.growth || r.LimitMiB != tt.limit {
				t.Errorf("growth %v limit %v, want %v %v", r.GrowthMiB, r.LimitMiB, tt.growth, tt.limit)
			}
		})
	}
}

func TestJudgeSoak(t *testing.T) {
	ratio := 1.0
	load := func(unexpected, errs uint64) *schema.Load {
		l := &schema.Load{Requests: 1000, Successes: 1000 - unexpected, UnexpectedStatus: unexpected, Errors: errs,
			StatusCodes: map[string]uint64{"200": 1000 - unexpected}, ErrorsByKind: map[string]uint64{}, SuccessRatio: &ratio}
		if unexpected > 0 {
			l.StatusCodes["502"] = unexpected
		}
		if errs > 0 {
			l.ErrorsByKind["reset"] = errs
		}
		return l
	}
	good := func() *schema.Soak {
		return &schema.Soak{
			ExpectedFailuresPerKill: 3,
			Reloads:                 schema.SoakEvents{Planned: 5, Done: 5, Applied: map[string]int{"client-sidecar": 5}, Rejected: map[string]int{"client-sidecar": 0}},
			Rotations:               schema.SoakEvents{Planned: 2, Done: 2, Applied: map[string]int{"client-sidecar": 2, "server-sidecar-1": 3}},
			Kills:                   schema.SoakKills{SoakEvents: schema.SoakEvents{Planned: 2, Done: 2}, Restarted: 2},
			SlowReader:              schema.SoakSlowReader{Size: 100, Responses: 4, Failures: 1},
			RSS: []schema.SoakRSS{
				{Name: "client-sidecar", Judged: true, Flat: true},
				{Name: "server-sidecar-2", Judged: false, Flat: false},
			},
		}
	}
	tests := []struct {
		name   string
		change func(*schema.Soak)
		load   *schema.Load
		reason string // "" when the soak passes
	}{
		{"passes", func(*schema.Soak) {}, load(2, 3), ""},
		{"budget exceeded", func(*schema.Soak) {}, load(3, 3), "7 failed requests > budget 6 (3 per kill × 2 kills): 502 ×3, reset ×3, slow reader ×1"},
		{"no kills, no budget", func(k *schema.Soak) {
			k.Kills = schema.SoakKills{}
			k.SlowReader.Failures = 0
		}, load(0, 1), "1 failed requests > budget 0 (3 per kill × 0 kills): reset ×1"},
		{"reload missed", func(k *schema.Soak) { k.Reloads.Done, k.Reloads.Errors = 4, []string{"at 50.0s: disk full"} }, load(0, 0), "reloads: 4 of 5 done: at 50.0s: disk full"},
		{"reload not applied", func(k *schema.Soak) { k.Reloads.Applied["client-sidecar"] = 4 }, load(0, 0), "client-sidecar applied 4 of 5 config reloads"},
		{"reload rejected", func(k *schema.Soak) { k.Reloads.Rejected["client-sidecar"] = 1 }, load(0, 0), "client-sidecar rejected 1 config reloads"},
		{"rotation not applied", func(k *schema.Soak) { k.Rotations.Applied["server-sidecar-1"] = 1 }, load(0, 0), "server-sidecar-1 applied 1 of 2 identity reloads"},
		{"pod not back", func(k *schema.Soak) { k.Kills.Restarted = 1 }, load(0, 0), "kills: 1 of 2 killed pods came back"},
		{"slow reader idle", func(k *schema.Soak) { k.SlowReader.Responses = 0 }, load(0, 0), "the slow reader completed no response"},
		{"rss grew", func(k *schema.Soak) {
			k.RSS[0] = schema.SoakRSS{Name: "client-sidecar", Judged: true, WarmMiB: 20, LastMiB: 30, GrowthMiB: 10, LimitMiB: 5}
		}, load(0, 0), "client-sidecar RSS grew 10.0 MiB (median 20.0 → 30.0 MiB), more than the 5.0 MiB allowed"},
		{"rss not measured", func(k *schema.Soak) { k.RSS[0].Flat, k.RSS[0].Note = false, "no RSS sample in the last window" }, load(0, 0), "client-sidecar RSS not judged flat: no RSS sample in the last window"},
		{"nothing judged", func(k *schema.Soak) { k.RSS = k.RSS[1:] }, load(0, 0), "no proxy's RSS was judged"},
		{"no load", func(*schema.Soak) {}, nil, "no load result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := good()
			tt.change(k)
			JudgeSoak(k, tt.load)
			if tt.reason == "" {
				if !k.OK || len(k.Reasons) > 0 {
					t.Fatalf("failed: %v", k.Reasons)
				}
				return
			}
			if k.OK || !strings.Contains(strings.Join(k.Reasons, "\n"), tt.reason) {
				t.Fatalf("ok %v, reasons %q; want %q", k.OK, k.Reasons, tt.reason)
			}
		})
	}
}
