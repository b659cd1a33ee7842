package scenario

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// JSON returns the normalised scenario (after defaults) as compact JSON,
// for a result file's scenario.spec. Durations are Go duration strings
// ("10s", "500ms"), as in the YAML, not nanoseconds.
func (s *Scenario) JSON() ([]byte, error) { return json.Marshal(s) }

// loadJSON is LoadSpec with durations as strings.
type loadJSON struct {
	Rates       []float64 `json:"rates"`
	Connections int       `json:"connections"`
	Duration    string    `json:"duration"`
	Warmup      string    `json:"warmup"`
	Repetitions int       `json:"repetitions"`
	Timeout     string    `json:"timeout"`
	Payload     int       `json:"payload"`
	RequestBody int       `json:"requestBody"`
	Streams     int       `json:"streams"`
	// ProtocolRates is omitted when empty, as in the YAML.
	ProtocolRates map[string][]float64 `json:"protocolRates,omitempty"`
	Service       string               `json:"service"`
	Path          string               `json:"path"`
	MinSuccess    string               `json:"minSuccess"`
}

// MarshalJSON writes durations as Go duration strings ("10s").
func (l LoadSpec) MarshalJSON() ([]byte, error) {
	return json.Marshal(loadJSON{
		Rates: l.Rates, Connections: l.Connections,
		Duration: l.Duration.String(), Warmup: l.Warmup.String(),
		Repetitions: l.Repetitions, Timeout: l.Timeout.String(),
		Payload: l.Payload, RequestBody: l.RequestBody,
		Streams: l.Streams, ProtocolRates: l.ProtocolRates,
		Service: l.Service, Path: l.Path, MinSuccess: l.MinSuccess.String(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *LoadSpec) UnmarshalJSON(data []byte) error {
	var j loadJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	var durs [3]time.Duration
	for i, s := range []string{j.Duration, j.Warmup, j.Timeout} {
		if err := parseJSONDuration(s, &durs[i]); err != nil {
			return err
		}
	}
	var minSuccess Percent
	if j.MinSuccess != "" {
		f, err := strconv.ParseFloat(strings.TrimSuffix(j.MinSuccess, "%"), 64)
		if err != nil || !strings.HasSuffix(j.MinSuccess, "%") {
			return fmt.Errorf("scenario: invalid minSuccess %q", j.MinSuccess)
		}
		minSuccess = Percent(f)
	}
	*l = LoadSpec{
		Rates: j.Rates, Connections: j.Connections,
		Duration: durs[0], Warmup: durs[1], Repetitions: j.Repetitions, Timeout: durs[2],
		Payload: j.Payload, RequestBody: j.RequestBody, Streams: j.Streams, ProtocolRates: j.ProtocolRates,
		Service: j.Service, Path: j.Path,
		MinSuccess: minSuccess,
	}
	return nil
}

// backendJSON is Backend with the delay as a string.
type backendJSON struct {
	Name      string `json:"name"`
	Replicas  int    `json:"replicas"`
	Delay     string `json:"delay"`
	ClusterIP string `json:"clusterIP"`
	Port      int    `json:"port"`
}

// MarshalJSON writes the delay as a Go duration string ("0s").
func (b Backend) MarshalJSON() ([]byte, error) {
	return json.Marshal(backendJSON{Name: b.Name, Replicas: b.Replicas, Delay: b.Delay.String(), ClusterIP: b.ClusterIP, Port: b.Port})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *Backend) UnmarshalJSON(data []byte) error {
	var j backendJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	var delay time.Duration
	if err := parseJSONDuration(j.Delay, &delay); err != nil {
		return err
	}
	*b = Backend{Name: j.Name, Replicas: j.Replicas, Delay: delay, ClusterIP: j.ClusterIP, Port: j.Port}
	return nil
}

// parseJSONDuration parses s into d; "" leaves d zero.
func parseJSONDuration(s string, d *time.Duration) error {
	if s == "" {
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("scenario: invalid duration %q", s)
	}
	*d = v
	return nil
}

// soakJSON is Soak with durations as strings.
type soakJSON struct {
	Reload     string       `json:"reload"`
	Rotate     string       `json:"rotate"`
	Kill       soakKillJSON `json:"kill"`
	SlowReader SlowReader   `json:"slowReader"`
	RSS        soakRSSJSON  `json:"rss"`
}

type soakKillJSON struct {
	Every            string `json:"every"`
	Down             string `json:"down"`
	ExpectedFailures int    `json:"expectedFailures"`
}

type soakRSSJSON struct {
	Every        string  `json:"every"`
	Warm         string  `json:"warm"`
	Window       string  `json:"window"`
	MaxGrowth    string  `json:"maxGrowth"`
	MaxGrowthMiB float64 `json:"maxGrowthMiB"`
}

// MarshalJSON writes durations as Go duration strings ("10s") and
// maxGrowth as a percentage ("10%"), as the YAML does.
func (s Soak) MarshalJSON() ([]byte, error) {
	return json.Marshal(soakJSON{
		Reload: s.Reload.String(), Rotate: s.Rotate.String(),
		Kill:       soakKillJSON{Every: s.Kill.Every.String(), Down: s.Kill.Down.String(), ExpectedFailures: s.Kill.ExpectedFailures},
		SlowReader: s.SlowReader,
		RSS: soakRSSJSON{Every: s.RSS.Every.String(), Warm: s.RSS.Warm.String(), Window: s.RSS.Window.String(),
			MaxGrowth: s.RSS.MaxGrowth.String(), MaxGrowthMiB: s.RSS.MaxGrowthMiB},
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Soak) UnmarshalJSON(data []byte) error {
	var j soakJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	var out Soak
	for _, f := range []struct {
		s string
		d *time.Duration
	}{
		{j.Reload, &out.Reload}, {j.Rotate, &out.Rotate}, {j.Kill.Every, &out.Kill.Every}, {j.Kill.Down, &out.Kill.Down},
		{j.RSS.Every, &out.RSS.Every}, {j.RSS.Warm, &out.RSS.Warm}, {j.RSS.Window, &out.RSS.Window},
	} {
		if err := parseJSONDuration(f.s, f.d); err != nil {
			return err
		}
	}
	if j.RSS.MaxGrowth != "" {
		f, err := strconv.ParseFloat(strings.TrimSuffix(j.RSS.MaxGrowth, "%"), 64)
		if err != nil || !strings.HasSuffix(j.RSS.MaxGrowth, "%") {
			return fmt.Errorf("scenario: invalid soak.rss.maxGrowth %q", j.RSS.MaxGrowth)
		}
		out.RSS.MaxGrowth = Percent(f)
	}
	out.Kill.ExpectedFailures = j.Kill.ExpectedFailures
	out.SlowReader = j.SlowReader
	out.RSS.MaxGrowthMiB = j.RSS.MaxGrowthMiB
	*s = out
	return nil
}
