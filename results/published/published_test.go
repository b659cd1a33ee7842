package published

import (
	"strings"
	"testing"
)

// TestPublishedFile checks the project's own figures file: it loads, and
// every source has a URL, conditions and figures.
func TestPublishedFile(t *testing.T) {
	f, err := Load("../published.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Sources) == 0 {
		t.Fatal("no sources")
	}
	meshes := map[string]int{}
	for i, s := range f.Sources {
		meshes[s.Mesh]++
		if len(s.Figures) == 0 {
			t.Errorf("sources[%d] (%s %s %s): no figures", i, s.Mesh, s.Proxy, s.Version)
		}
		if s.Title == "" {
			t.Errorf("sources[%d] (%s %s %s): no title", i, s.Mesh, s.Proxy, s.Version)
		}
	}
	for _, m := range []string{"istio", "linkerd"} {
		if meshes[m] == 0 {
			t.Errorf("no %s source", m)
		}
	}
}

const good = `
sources:
  - mesh: istio
    proxy: envoy
    version: "1.24"
    title: Performance and Scalability
    url: https://istio.io/v1.24/docs/ops/deployment/performance-and-scalability/
    date: "2024-11"
    conditions: 1000 req/s, 1 KB payload
    figures:
      - metric: vcpu_per_1000rps
        value: 0.2
        note: single sidecar, 2 worker threads
`

func TestParseGood(t *testing.T) {
	f, err := Parse([]byte(good), "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Sources[0].Figures[0].Value; got != 0.2 {
		t.Errorf("value = %v, want 0.2", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want string // substring of the error
	}{
		{"empty file", func(string) string { return "" }, "x.yaml: empty file"},
		{"no sources", func(string) string { return "sources: []\n" }, "sources: none"},
		{"unknown metric", func(s string) string {
			return strings.Replace(s, "metric: vcpu_per_1000rps", "metric: vcpus", 1)
		}, `sources[0].figures[0].metric "vcpus": unknown`},
		{"missing url", func(s string) string {
			return strings.Replace(s, "    url: https://istio.io/v1.24/docs/ops/deployment/performance-and-scalability/\n", "", 1)
		}, "sources[0].url: missing"},
		{"relative url", func(s string) string {
			return strings.Replace(s, "https://istio.io/v1.24/docs", "istio.io/v1.24/docs", 1)
		}, "want an absolute http(s) URL"},
		{"unknown field", func(s string) string {
			return strings.Replace(s, "    proxy: envoy\n", "    proxy: envoy\n    proxyy: envoy\n", 1)
		}, "field proxyy not found"},
		{"unknown figure field", func(s string) string {
			return strings.Replace(s, "        value: 0.2\n", "        value: 0.2\n        unit: vCPU\n", 1)
		}, "field unit not found"},
		{"bad mesh", func(s string) string {
			return strings.Replace(s, "mesh: istio", "mesh: consul", 1)
		}, `sources[0].mesh "consul"`},
		{"missing proxy", func(s string) string {
			return strings.Replace(s, "    proxy: envoy\n", "", 1)
		}, "sources[0].proxy: missing"},
		{"missing version", func(s string) string {
			return strings.Replace(s, "    version: \"1.24\"\n", "", 1)
		}, "sources[0].version: missing"},
		{"missing conditions", func(s string) string {
			return strings.Replace(s, "    conditions: 1000 req/s, 1 KB payload\n", "", 1)
		}, "sources[0].conditions: missing"},
		{"no figures", func(s string) string {
			return s[:strings.Index(s, "    figures:")] + "    figures: []\n"
		}, "sources[0].figures: none"},
		{"negative value", func(s string) string {
			return strings.Replace(s, "value: 0.2", "value: -0.2", 1)
		}, "figures[0].value -0.2: negative"},
		{"NaN value", func(s string) string {
			return strings.Replace(s, "value: 0.2", "value: .nan", 1)
		}, "not a finite number"},
		{"missing note", func(s string) string {
			return strings.Replace(s, "        note: single sidecar, 2 worker threads\n", "", 1)
		}, "figures[0].note: missing"},
		{"duplicate figure", func(s string) string {
			return s + "      - metric: vcpu_per_1000rps\n        value: 0.3\n        note: single sidecar, 2 worker threads\n"
		}, "figures[1]: same metric and note as figures[0]"},
		{"bad date", func(s string) string {
			return strings.Replace(s, `date: "2024-11"`, `date: "Nov 2024"`, 1)
		}, `date "Nov 2024"`},
		{"value not a number", func(s string) string {
			return strings.Replace(s, "value: 0.2", "value: about 0.2", 1)
		}, "cannot unmarshal"},
		{"second document", func(s string) string {
			return s + "---\nsources: []\n"
		}, "more than one YAML document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.edit(good)), "x.yaml")
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "x.yaml: ") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
