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
	"os"

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
	// "max over the run").
	Note string `yaml:"note,omitempty"`
}

// Metrics are the figure kinds a report knows how to show, with their label.
var Metrics = map[string]string{
	"memory_mib":       "memory per proxy (MiB)",
	"vcpu_per_1000rps": "vCPU per 1000 req/s per proxy",
	"added_p50_ms":     "added p50 latency (ms)",
	"added_p90_ms":     "added p90 latency (ms)",
	"added_p99_ms":     "added p99 latency (ms)",
	"p50_ms":           "p50 latency (ms)",
	"p99_ms":           "p99 latency (ms)",
	"max_memory_mib":   "maximum memory per proxy (MiB)",
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
		for j, fig := range s.Figures {
			if _, ok := Metrics[fig.Metric]; !ok {
				return fmt.Errorf("%s.figures[%d].metric %q: unknown", where, j, fig.Metric)
			}
			if fig.Value < 0 {
				return fmt.Errorf("%s.figures[%d].value %v: negative", where, j, fig.Value)
			}
		}
	}
	return nil
}
