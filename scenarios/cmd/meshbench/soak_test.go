package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The command line's side of a soak: -soak-duration needs a soak scenario
// and is checked against the compressed soak; kind refuses a soak; list
// says what a soak does.
func TestSoakCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"kind refuses a soak", []string{"run", "-target", "kind", "../../soak.yaml"}, 2, "", "a soak runs on loopback only"},
		{"soak duration without a soak", []string{"run", "-soak-duration", "1m", "../../quick.yaml"}, 2, "", "has no soak section"},
		{"soak duration too short", []string{"run", "-soak-duration", "1s", "../../soak.yaml"}, 2, "", "(with the soak compressed to 1s)"},
		{"list", []string{"list", "../.."}, 0, "soak: reload every 10s, rotate every 1m0s, kill every 2m0s (down 5s), slow reader 1048576 B at 102400 B/s", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout to contain %q, stderr %q", code, tt.wantCode, stdout.String(), stderr.String(), tt.wantStdout, tt.wantStderr)
			}
		})
	}
}
