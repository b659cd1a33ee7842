// Package published holds reference figures that Istio and Linkerd published
// about their own proxies (results/published.yaml). They are not
// measurements of this project: reports show them labelled "published",
// apart from measured rows, with their source and conditions.
package published

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// Figures is the whole file.
type Figures struct {
	Sources []Source `yaml:"sources"`
}

// Source is one publication: a mesh's performance page or benchmark post.
type Source struct {
	Mesh       string   `yaml:"mesh"`       // "istio" or "linkerd"
	Proxy      string   `yaml:"proxy"`      // "envoy", "ztunnel", "linkerd2-proxy"
	Version    string   `yaml:"version"`    // mesh version the figures are for, e.g. "1.24"
	Title      string   `yaml:"title"`      // title of the page or post
	URL        string   `yaml:"url"`        // where the figures were read
	Date       string   `yaml:"date"`       // publication date, YYYY-MM-DD or YYYY-MM
	Conditions string   `yaml:"conditions"` // load, payload, connections, machine, as the source states them
	Figures    []Figure `yaml:"figures"`
}

// Figure is one number as the source states it.
type Figure struct {
	// Metric is one of the Metrics keys.
	Metric string  `yaml:"metric"`
	Value  float64 `yaml:"value"`
	// Note qualifies the number (e.g. "at 1000 req/s, 16 connections",
	// "max over the run"). Required: a number without its conditions is
	// not worth showing.
	Note string `yaml:"note,omitempty"`
}

// Metrics are the figure kinds a report knows how to show, with their label.
// Figures keep the unit their source states: Istio and Linkerd publish
// memory in "MB"/"mb", so those figures use the _mb keys, never converted.
var Metrics = map[string]string{
	"memory_mib":       "memory per proxy (MiB)",
	"memory_mb":        "memory per proxy (MB, as published)",
	"vcpu_per_1000rps": "vCPU per 1000 req/s per proxy",
	"added_p50_ms":     "added p50 latency (ms)",
	"added_p90_ms":     "added p90 latency (ms)",
	"added_p99_ms":     "added p99 latency (ms)",
	"added_max_ms":     "added max latency (ms)",
	"p50_ms":           "p50 latency (ms)",
	"p99_ms":           "p99 latency (ms)",
	"max_memory_mib":   "maximum memory per proxy (MiB)",
	"max_memory_mb":    "maximum memory per proxy (MB, as published)",
	"max_cpu_time_ms":  "maximum CPU time of one proxy over a run (ms)",
}

// Parse decodes and validates a published-figures file; name is used in
// errors.
func Parse(data []byte, name string) (*Figures, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f Figures
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document", name)
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &f, nil
}

// Load reads and validates path.
func Load(path string) (*Figures, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

func (f *Figures) validate() error {
	if len(f.Sources) == 0 {
		return errors.New("sources: none")
	}
	for i, s := range f.Sources {
		where := fmt.Sprintf("sources[%d]", i)
		switch {
		case s.Mesh != "istio" && s.Mesh != "linkerd":
			return fmt.Errorf("%s.mesh %q: must be istio or linkerd", where, s.Mesh)
		case s.Proxy == "":
			return fmt.Errorf("%s.proxy: missing", where)
		case s.Version == "":
			return fmt.Errorf("%s.version: missing", where)
		case s.URL == "":
			return fmt.Errorf("%s.url: missing (a published figure needs its source)", where)
		case s.Conditions == "":
			return fmt.Errorf("%s.conditions: missing", where)
		case len(s.Figures) == 0:
			return fmt.Errorf("%s.figures: none", where)
		}
		if err := checkURL(s.URL); err != nil {
			return fmt.Errorf("%s.url %q: %v", where, s.URL, err)
		}
		if s.Date != "" && !validDate(s.Date) {
			return fmt.Errorf("%s.date %q: want YYYY-MM-DD or YYYY-MM", where, s.Date)
		}
		seen := make(map[[2]string]int)
		for j, fig := range s.Figures {
			fw := fmt.Sprintf("%s.figures[%d]", where, j)
			if _, ok := Metrics[fig.Metric]; !ok {
				return fmt.Errorf("%s.metric %q: unknown", fw, fig.Metric)
			}
			if math.IsNaN(fig.Value) || math.IsInf(fig.Value, 0) {
				return fmt.Errorf("%s.value %v: not a finite number", fw, fig.Value)
			}
			if fig.Value < 0 {
				return fmt.Errorf("%s.value %v: negative", fw, fig.Value)
			}
			if fig.Note == "" {
				return fmt.Errorf("%s.note: missing (say the load and what the number is of)", fw)
			}
			k := [2]string{fig.Metric, fig.Note}
			if prev, dup := seen[k]; dup {
				return fmt.Errorf("%s: same metric and note as figures[%d]", fw, prev)
			}
			seen[k] = j
		}
	}
	return nil
}

// checkURL accepts an absolute http or https URL with a host.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("want an absolute http(s) URL")
	}
	return nil
}

func validDate(s string) bool {
	for _, layout := range []string{"2006-01-02", "2006-01"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}
