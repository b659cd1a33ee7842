package aggregate

import (
	"encoding/json"
	"testing"

	"github.com/meshbench/meshbench/results/schema"
)

// TestMeshloadLoad reads meshload -json objects (trimmed to the fields a
// step keeps, spelled as loadgen/internal/report/json.go writes them) into
// a step's Load: the success classification is carried over, the ratio is
// unknown (nil) when the file predates it, and a failure latency is present
// only when there were failures of its kind.
func TestMeshloadLoad(t *testing.T) {
	tests := []struct {
		name           string
		in             string
		wantRatio      *float64
		wantUnexpected *schema.Latency
		wantErrors     *schema.Latency
	}{
		{
			name: "failures of both kinds",
			in: `{"expect": "2xx", "requests": 90, "successes": 60, "unexpected_status": 30, "errors": 10,
				"failures": 40, "success_ratio": 0.6, "status_codes": {"200": 60, "503": 30},
				"errors_by_kind": {"timeout": 10}, "latency_us": {"p50": 400},
				"unexpected_latency_us": {"p50": 90}, "error_latency_us": {"p50": 1000000}}`,
			wantRatio:      ptr(0.6),
			wantUnexpected: &schema.Latency{P50: 90},
			wantErrors:     &schema.Latency{P50: 1000000},
		},
		{
			name: "transport errors only",
			in: `{"expect": "200,204", "requests": 90, "successes": 90, "unexpected_status": 0, "errors": 10,
				"failures": 10, "success_ratio": 0.9, "errors_by_kind": {"reset": 10},
				"unexpected_latency_us": {"p50": 0}, "error_latency_us": {"p50": 70}}`,
			wantRatio:  ptr(0.9),
			wantErrors: &schema.Latency{P50: 70},
		},
		{
			name: "no failures",
			in: `{"expect": "2xx", "requests": 90, "successes": 90, "unexpected_status": 0, "errors": 0,
				"failures": 0, "success_ratio": 1, "status_codes": {"200": 90}, "latency_us": {"p50": 400},
				"unexpected_latency_us": {"p50": 0}, "error_latency_us": {"p50": 0}}`,
			wantRatio: ptr(1.0),
		},
		{
			name:      "nothing finished",
			in:        `{"expect": "2xx", "requests": 0, "successes": 0, "errors": 0, "success_ratio": 0}`,
			wantRatio: ptr(0.0),
		},
		{
			name: "written before success was classified",
			in:   `{"requests": 90, "errors": 0, "status_codes": {"200": 90}, "latency_us": {"p50": 400}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Meshload
			if err := json.Unmarshal([]byte(tc.in), &m); err != nil {
				t.Fatal(err)
			}
			l := m.Load(nil)
			if l.Expect != m.Expect || l.Successes != m.Successes || l.UnexpectedStatus != m.UnexpectedStatus ||
				l.Requests != m.Requests || l.Errors != m.Errors {
				t.Errorf("load %+v from %+v", l, m)
			}
			if !equalPtr(l.SuccessRatio, tc.wantRatio) {
				t.Errorf("success ratio %v, want %v", deref(l.SuccessRatio), deref(tc.wantRatio))
			}
			if !equalPtr(l.UnexpectedLatencyUS, tc.wantUnexpected) || !equalPtr(l.ErrorLatencyUS, tc.wantErrors) {
				t.Errorf("unexpected latency %+v, error latency %+v; want %+v, %+v",
					deref(l.UnexpectedLatencyUS), deref(l.ErrorLatencyUS), deref(tc.wantUnexpected), deref(tc.wantErrors))
			}
			// The Load owns its values: changing what was read changes nothing.
			if m.SuccessRatio != nil {
				*m.SuccessRatio = -1
				if *l.SuccessRatio == -1 {
					t.Error("the Load shares its success ratio with the decoded object")
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// deref prints a pointer's value, or "nil".
func deref[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}
