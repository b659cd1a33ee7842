package scenario

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// soakYAML is a valid soak scenario; the cases below change one part.
func soakYAML(load, backends, targets, soak string) string {
	if load == "" {
		load = "load: {rates: [100], duration: 10m}\n"
	}
	if backends == "" {
		backends = "backends: [{name: echo, replicas: 2}]\n"
	}
	if targets == "" {
		targets = "targets: [{name: pair, kind: meshproxy, topology: sidecar-pair, tls: mtls}]\n"
	}
	if soak == "" {
		soak = "soak: {}\n"
	}
	return "name: s\n" + load + backends + targets + soak
}

// A soak section that sets nothing gets every default, and the scenario
// runs once.
func TestSoakDefaults(t *testing.T) {
	s, err := Parse([]byte(soakYAML("", "", "", "")), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Soak{
		Reload: 10 * time.Second, Rotate: time.Minute,
		Kill:       SoakKill{Every: 2 * time.Minute, Down: 5 * time.Second},
		SlowReader: SlowReader{Size: 1 << 20, Rate: 100 << 10},
		RSS:        SoakRSS{Every: 5 * time.Second, Warm: 2 * time.Minute, Window: time.Minute, MaxGrowth: 10, MaxGrowthMiB: 5},
	}
	if !reflect.DeepEqual(s.Soak, want) {
		t.Errorf("soak %+v\nwant %+v", s.Soak, want)
	}
	if !s.Soak.Enabled() || s.Load.Repetitions != 1 {
		t.Errorf("enabled %v, repetitions %d", s.Soak.Enabled(), s.Load.Repetitions)
	}
	// Without the section, no soak; "soak: null" is no section either.
	for _, y := range []string{"name: x\nload: {rates: [1]}\n", "name: x\nload: {rates: [1]}\nsoak:\n"} {
		s, err := Parse([]byte(y), "x.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if s.Soak.Enabled() || s.Load.Repetitions != DefaultRepetitions {
			t.Errorf("%q: soak %+v, repetitions %d", y, s.Soak, s.Load.Repetitions)
		}
	}
	// Zero periods turn disturbances off and are kept as written.
	s, err = Parse([]byte(soakYAML("", "backends: [{name: echo}]\n", "targets: [{name: p, kind: meshproxy, topology: sidecar-pair}]\n",
		"soak: {reload: 0s, rotate: 0s, kill: {every: 0s}, slowReader: {size: 0}}\n")), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if k := s.Soak; k.Reload != 0 || k.Rotate != 0 || k.Kill.Every != 0 || k.SlowReader.Size != 0 || !k.Enabled() {
		t.Errorf("soak %+v", k)
	}
}

// Every soak rule names its field.
func TestSoakErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"netns", "mode: netns\n" + soakYAML("", "", "", ""), `soak: a soak runs in loopback mode only (mode is netns)`},
		{"two rates", soakYAML("load: {rates: [100, 200], duration: 10m}\n", "", "", ""), `load.rates: a soak runs one rate, got 2`},
		{"repetitions", soakYAML("load: {rates: [100], duration: 10m, repetitions: 3}\n", "", "", ""), `load.repetitions 3: a soak runs once (want 1, the default with soak)`},
		{"min success", soakYAML("load: {rates: [100], duration: 10m, minSuccess: 99%}\n", "", "", ""), `load.minSuccess "99%": not used by a soak: its failures are judged against soak.kill.expectedFailures per kill`},
		{"two targets", soakYAML("", "", "targets: [{name: direct, kind: direct}, {name: p, kind: meshproxy, topology: sidecar-pair, tls: mtls}]\n", ""), `targets: a soak measures exactly one target, of kind meshproxy with topology sidecar-pair (got 2)`},
		{"default target", soakYAML("", "", "targets:\n", ""), `targets[0].kind "direct": a soak measures a meshproxy target with topology sidecar-pair`},
		{"peer", soakYAML("", "", "targets: [{name: n, kind: nginx}]\n", ""), `targets[0].kind "nginx": a soak measures a meshproxy target with topology sidecar-pair`},
		{"client sidecar", soakYAML("", "", "targets: [{name: m, kind: meshproxy}]\n", "soak: {rotate: 0s}\n"), `targets[0].topology "client-sidecar": a soak kills and restarts a server pod: want sidecar-pair`},
		{"reload negative", soakYAML("", "", "", "soak: {reload: -1s}\n"), `soak.reload "-1s": must not be negative (0s: no reloads)`},
		{"reload too often", soakYAML("", "", "", "soak: {reload: 99ms}\n"), `soak.reload "99ms": want 0s (no reloads) or at least 100ms`},
		{"rss every zero", soakYAML("", "", "", "soak: {rss: {every: 0s}}\n"), `soak.rss.every "0s": want at least 100ms`},
		{"reload too long", soakYAML("", "", "", "soak: {reload: 10m}\n"), `soak.reload "10m0s": not below load.duration 10m0s: no reloads would happen (0s: none)`},
		{"rotate without mtls", soakYAML("", "", "targets: [{name: p, kind: meshproxy, topology: sidecar-pair}]\n", ""), `soak.rotate "1m0s": rotates the sidecars' mTLS certificates: needs the target's tls: mtls (0s: no rotations)`},
		{"kill one replica", soakYAML("", "backends: [{name: echo}]\n", "", ""), `soak.kill.every "2m0s": kills one pod of load.service "echo": needs backends[0].replicas of at least 2, so that the others carry the load (0s: no kills)`},
		{"kill down zero", soakYAML("", "", "", "soak: {kill: {down: 0s}}\n"), `soak.kill.down "0s": must be positive (how long the killed pod stays down)`},
		{"kill down long", soakYAML("", "", "", "soak: {kill: {every: 10s, down: 10s}}\n"), `soak.kill.down "10s": must be below soak.kill.every 10s (the pod is back before the next kill)`},
		{"kill does not fit", soakYAML("load: {rates: [100], duration: 4m}\n", "", "", "soak: {kill: {every: 3m58s}, rss: {warm: 30s, window: 30s}}\n"), `soak.kill.every "3m58s": the first kill's restart (at 4m3s) does not fall within load.duration 4m0s`},
		{"expected failures", soakYAML("", "", "", "soak: {kill: {expectedFailures: -1}}\n"), `soak.kill.expectedFailures -1: want 0-1000000 (failed requests allowed per kill)`},
		{"slow reader size", soakYAML("", "", "", "soak: {slowReader: {size: 67108865}}\n"), `soak.slowReader.size 67108865: want 0-67108864 bytes (64 MiB; 0: no slow reader)`},
		{"slow reader rate", soakYAML("", "", "", "soak: {slowReader: {rate: 0}}\n"), `soak.slowReader.rate 0: want 1-1073741824 bytes/s`},
		{"rss every", soakYAML("", "", "", "soak: {rss: {every: 31s}}\n"), `soak.rss.every "31s": at most half of soak.rss.window 1m0s, so that each window holds at least 2 samples`},
		{"rss window", soakYAML("", "", "", "soak: {rss: {window: 0s}}\n"), `soak.rss.window "0s": must be positive`},
		{"rss windows overlap", soakYAML("", "", "", "soak: {rss: {warm: 8m30s}}\n"), `soak.rss.warm "8m30s": the reference window [8m30s, 9m30s) must end by the start of the last window [9m0s, 10m0s) of load.duration`},
		{"rss growth", soakYAML("", "", "", "soak: {rss: {maxGrowth: 1001%}}\n"), `soak.rss.maxGrowth "1001%": want 0%-1000%`},
		{"rss growth bare", soakYAML("", "", "", "soak: {rss: {maxGrowth: 10}}\n"), `soak.rss.maxGrowth 10: want a percentage with the % sign, such as 99.9% (a bare number could be a ratio or a percent)`},
		{"rss growth MiB", soakYAML("", "", "", "soak: {rss: {maxGrowthMiB: -1}}\n"), `soak.rss.maxGrowthMiB -1: want 0-1048576 MiB`},
		{"unknown field", soakYAML("", "", "", "soak: {kills: {}}\n"), `soak.kills: unknown field (in soak: reload, rotate, kill, slowReader, rss)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.in), "s.yaml")
			if err == nil {
				t.Fatalf("no error; got %+v", s)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n got %s\nwant it to contain %s\ninput:\n%s", err, tt.want, tt.in)
			}
		})
	}
}

func TestPlanned(t *testing.T) {
	s := time.Second
	tests := []struct {
		every, tail, dur time.Duration
		want             []time.Duration
	}{
		{0, 0, 10 * s, nil},
		{3 * s, 0, 10 * s, []time.Duration{3 * s, 6 * s, 9 * s}},
		{5 * s, 0, 10 * s, []time.Duration{5 * s}},      // not at the end itself
		{4 * s, 2 * s, 10 * s, []time.Duration{4 * s}},  // 8 s + 2 s is not before the end
		{10 * time.Second, 0, 10 * time.Minute, nil},    // want: filled in below
		{2 * time.Minute, 5 * s, 10 * time.Minute, nil}, // want: filled in below
		{10 * s, 0, 10 * s, nil},
	}
	tests[4].want = make([]time.Duration, 59) // 10 s ... 590 s
	for i := range tests[4].want {
		tests[4].want[i] = time.Duration(i+1) * 10 * s
	}
	tests[5].want = []time.Duration{2 * time.Minute, 4 * time.Minute, 6 * time.Minute, 8 * time.Minute}
	for _, tt := range tests {
		got := Planned(tt.every, tt.tail, tt.dur)
		if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("Planned(%v, %v, %v) = %v, want %v", tt.every, tt.tail, tt.dur, got, tt.want)
		}
	}
}

// LoadWith compresses a soak: every period scales with the duration, and
// the result is validated again.
func TestLoadWithSoakDuration(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(file, []byte(soakYAML("", "", "", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadWith(file, Overrides{SoakDuration: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	k := s.Soak
	if s.Load.Duration != 2*time.Minute || k.Reload != 2*time.Second || k.Rotate != 12*time.Second ||
		k.Kill.Every != 24*time.Second || k.Kill.Down != time.Second || k.RSS.Every != time.Second ||
		k.RSS.Warm != 24*time.Second || k.RSS.Window != 12*time.Second || k.SlowReader != (SlowReader{Size: 1 << 20, Rate: 100 << 10}) {
		t.Errorf("compressed: duration %v, soak %+v", s.Load.Duration, k)
	}
	// As many disturbances as in the full run.
	full, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2][3]time.Duration{
		{{full.Soak.Reload, 0, full.Load.Duration}, {k.Reload, 0, s.Load.Duration}},
		{{full.Soak.Kill.Every, full.Soak.Kill.Down, full.Load.Duration}, {k.Kill.Every, k.Kill.Down, s.Load.Duration}},
	} {
		if a, b := len(Planned(p[0][0], p[0][1], p[0][2])), len(Planned(p[1][0], p[1][1], p[1][2])); a != b || a == 0 {
			t.Errorf("planned %d in the full run, %d compressed", a, b)
		}
	}

	// A compression that breaks a rule says so, naming the override.
	if _, err := LoadWith(file, Overrides{SoakDuration: time.Millisecond}); err == nil || !strings.Contains(err.Error(), "(with the soak compressed to 1ms)") {
		t.Errorf("1ms: %v", err)
	}
	// Only for soaks.
	plain := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(plain, []byte("name: p\nload: {rates: [1]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWith(plain, Overrides{SoakDuration: time.Minute}); err == nil || !strings.Contains(err.Error(), "has no soak section") {
		t.Errorf("no soak: %v", err)
	}
	if _, err := LoadWith(file, Overrides{SoakDuration: -time.Minute}); err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Errorf("negative: %v", err)
	}
}
