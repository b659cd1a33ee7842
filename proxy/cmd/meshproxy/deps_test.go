package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoTestOnlyDependencies: the sidecar binary links none of the
// libraries that belong to the harness (gRPC is for the echo backend and
// meshload only; fasthttp for the echo): every dependency costs RSS in
// every pod.
func TestNoTestOnlyDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"google.golang.org/grpc", "google.golang.org/protobuf", "github.com/valyala/fasthttp"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("meshproxy depends on %s", pkg)
			}
		}
	}
}
