package scenario

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// validateSoak checks the soak section and what it asks of the rest of the
// scenario: one meshproxy sidecar-pair target at one rate, once, on
// loopback, and periods that fit in load.duration.
func (d *decoder) validateSoak(s *Scenario, backends map[string]int) {
	if !d.set["soak"] {
		return
	}
	k, l := &s.Soak, &s.Load
	if s.Mode != ModeLoopback {
		d.errorf("soak", "", "a soak runs in loopback mode only (mode is %s)", s.Mode)
	}
	if len(l.Rates) > 1 {
		d.errorf("load.rates", "", "a soak runs one rate, got %d", len(l.Rates))
	}
	if l.Repetitions != 1 {
		d.errorf("load.repetitions", itoa(l.Repetitions), "a soak runs once (want 1, the default with soak)")
	}
	if d.set["load.minSuccess"] {
		d.errorf("load.minSuccess", q(l.MinSuccess.String()), "not used by a soak: its failures are judged against soak.kill.expectedFailures per kill")
	}

	// The target.
	var target *Target
	switch {
	case len(s.Targets) != 1:
		d.errorf("targets", "", "a soak measures exactly one target, of kind %s with topology %s (got %d)", KindMeshproxy, TopoSidecarPair, len(s.Targets))
	case s.Targets[0].Kind != KindMeshproxy:
		d.errorf("targets[0].kind", q(s.Targets[0].Kind), "a soak measures a %s target with topology %s", KindMeshproxy, TopoSidecarPair)
	case s.Targets[0].Topology != TopoSidecarPair:
		d.errorf("targets[0].topology", q(s.Targets[0].Topology), "a soak kills and restarts a server pod: want %s", TopoSidecarPair)
	case d.set["targets[0].split"]:
		d.errorf("targets[0].split", "", "not with soak (a split is checked on a client sidecar alone)")
	default:
		target = &s.Targets[0]
	}

	// When nothing would happen within the run, say so rather than run a
	// soak without the disturbance the file asks for.
	fits := func(field string, v time.Duration, what string) bool {
		switch {
		case v < 0:
			d.errorf(field, qd(v), "must not be negative (0s: no %s)", what)
		case v > 0 && v < MinSoakPeriod:
			d.errorf(field, qd(v), "want 0s (no %s) or at least %s", what, MinSoakPeriod)
		case v > 0 && v >= l.Duration && l.Duration > 0:
			d.errorf(field, qd(v), "not below load.duration %s: no %s would happen (0s: none)", l.Duration, what)
		default:
			return true
		}
		return false
	}
	fits("soak.reload", k.Reload, "reloads")
	if fits("soak.rotate", k.Rotate, "rotations") && k.Rotate > 0 && target != nil && target.TLS != TLSMutual {
		d.errorf("soak.rotate", qd(k.Rotate), "rotates the sidecars' mTLS certificates: needs the target's tls: %s (0s: no rotations)", TLSMutual)
	}
	if fits("soak.kill.every", k.Kill.Every, "kills") && k.Kill.Every > 0 {
		switch {
		case k.Kill.Down <= 0:
			d.errorf("soak.kill.down", qd(k.Kill.Down), "must be positive (how long the killed pod stays down)")
		case k.Kill.Down >= k.Kill.Every:
			d.errorf("soak.kill.down", qd(k.Kill.Down), "must be below soak.kill.every %s (the pod is back before the next kill)", k.Kill.Every)
		case k.Kill.Every+k.Kill.Down >= l.Duration:
			d.errorf("soak.kill.every", qd(k.Kill.Every), "the first kill's restart (at %s) does not fall within load.duration %s", k.Kill.Every+k.Kill.Down, l.Duration)
		}
		if i, ok := backends[l.Service]; ok && s.Backends[i].Replicas < 2 {
			d.errorf("soak.kill.every", qd(k.Kill.Every), "kills one pod of load.service %q: needs backends[%d].replicas of at least 2, so that the others carry the load (0s: no kills)", l.Service, i)
		}
	}
	if !between(k.Kill.ExpectedFailures, 0, MaxSoakExpectedFailures) {
		d.errorf("soak.kill.expectedFailures", itoa(k.Kill.ExpectedFailures), "want 0-%d (failed requests allowed per kill)", MaxSoakExpectedFailures)
	}
	if !between(k.SlowReader.Size, 0, MaxBodyBytes) {
		d.errorf("soak.slowReader.size", itoa(k.SlowReader.Size), "want 0-%d bytes (64 MiB; 0: no slow reader)", MaxBodyBytes)
	}
	if k.SlowReader.Size > 0 && !between(k.SlowReader.Rate, 1, MaxSoakSlowReaderRate) {
		d.errorf("soak.slowReader.rate", itoa(k.SlowReader.Rate), "want 1-%d bytes/s", MaxSoakSlowReaderRate)
	}

	r := &k.RSS
	windows := true
	if r.Window <= 0 {
		d.errorf("soak.rss.window", qd(r.Window), "must be positive")
		windows = false
	}
	if r.Warm < 0 {
		d.errorf("soak.rss.warm", qd(r.Warm), "must not be negative")
		windows = false
	}
	switch {
	case r.Every < MinSoakPeriod:
		d.errorf("soak.rss.every", qd(r.Every), "want at least %s", MinSoakPeriod)
	case windows && 2*r.Every > r.Window:
		d.errorf("soak.rss.every", qd(r.Every), "at most half of soak.rss.window %s, so that each window holds at least 2 samples", r.Window)
	}
	if windows && l.Duration > 0 && r.Warm+r.Window > l.Duration-r.Window {
		d.errorf("soak.rss.warm", qd(r.Warm), "the reference window [%s, %s) must end by the start of the last window [%s, %s) of load.duration",
			r.Warm, r.Warm+r.Window, l.Duration-r.Window, l.Duration)
	}
	if r.MaxGrowth < 0 || r.MaxGrowth > MaxSoakRSSMaxGrowthPercent {
		d.errorf("soak.rss.maxGrowth", q(r.MaxGrowth.String()), "want 0%%-%d%%", MaxSoakRSSMaxGrowthPercent)
	}
	if r.MaxGrowthMiB < 0 || math.IsNaN(r.MaxGrowthMiB) || r.MaxGrowthMiB > 1<<20 {
		d.errorf("soak.rss.maxGrowthMiB", num(r.MaxGrowthMiB), "want 0-%d MiB", 1<<20)
	}
}

// MinSoakPeriod is the shortest period of a soak's disturbances and RSS
// samples: anything shorter is a typo or a compression too far, and would
// keep the proxies busy with it rather than with the load.
const MinSoakPeriod = 100 * time.Millisecond

// Overrides change a scenario after it is read; LoadWith validates the
// result again.
type Overrides struct {
	// SoakDuration, when not 0, runs the soak for this long instead of
	// load.duration, compressed: every period of the soak section (reload,
	// rotate, kill.every, kill.down, rss.every, rss.warm, rss.window)
	// scales by SoakDuration / load.duration, so the run has as many
	// reloads, rotations and kills as the full one. The slow reader keeps
	// its size and rate. An error for a scenario without a soak.
	SoakDuration time.Duration
}

// LoadWith is Load, then o applied and the scenario validated again; errors
// after the override say so.
func LoadWith(path string, o Overrides) (*Scenario, error) {
	if o == (Overrides{}) {
		return Load(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	s, d, err := parse(data, path)
	if err != nil {
		return nil, err
	}
	if !s.Soak.Enabled() {
		return nil, &Error{File: path, Field: "soak", Msg: fmt.Sprintf("a soak duration (%s) was given, but the scenario has no soak section", o.SoakDuration)}
	}
	if o.SoakDuration <= 0 {
		return nil, &Error{File: path, Field: "load.duration", Line: d.lineOf("load.duration"), Value: qd(o.SoakDuration), Msg: "the soak duration override must be positive"}
	}
	CompressSoak(s, o.SoakDuration)
	d.errs = nil
	d.validate(s)
	if len(d.errs) > 0 {
		for _, e := range d.errs {
			e.Msg += fmt.Sprintf(" (with the soak compressed to %s)", o.SoakDuration)
		}
		return nil, d.joined()
	}
	return s, nil
}

// CompressSoak sets s.Load.Duration to dur and scales every period of
// s.Soak by the same factor (see Overrides.SoakDuration), rounded to the
// millisecond. It does not validate.
func CompressSoak(s *Scenario, dur time.Duration) {
	f := float64(dur) / float64(s.Load.Duration)
	k := &s.Soak
	for _, p := range []*time.Duration{&k.Reload, &k.Rotate, &k.Kill.Every, &k.Kill.Down, &k.RSS.Every, &k.RSS.Warm, &k.RSS.Window} {
		*p = time.Duration(float64(*p) * f).Round(time.Millisecond)
	}
	s.Load.Duration = dur
}

// Planned returns when a periodic disturbance happens in a run of length
// dur: at every, 2×every, ... strictly before dur less tail (the time the
// disturbance needs to complete, such as a killed pod's downtime). None
// when every is 0.
func Planned(every, tail, dur time.Duration) []time.Duration {
	var at []time.Duration
	if every <= 0 {
		return at
	}
	for t := every; t+tail < dur; t += every {
		at = append(at, t)
	}
	return at
}

// Describe is a one-line summary of the soak section: what happens how
// often ("" without a soak).
func (k Soak) Describe() string {
	if !k.Enabled() {
		return ""
	}
	var parts []string
	if k.Reload > 0 {
		parts = append(parts, "reload every "+k.Reload.String())
	}
	if k.Rotate > 0 {
		parts = append(parts, "rotate every "+k.Rotate.String())
	}
	if k.Kill.Every > 0 {
		parts = append(parts, fmt.Sprintf("kill every %s (down %s)", k.Kill.Every, k.Kill.Down))
	}
	if k.SlowReader.Size > 0 {
		parts = append(parts, fmt.Sprintf("slow reader %d B at %d B/s", k.SlowReader.Size, k.SlowReader.Rate))
	}
	if len(parts) == 0 {
		return "no disturbances"
	}
	return strings.Join(parts, ", ")
}
