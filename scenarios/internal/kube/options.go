// Package kube runs scenarios on a kind cluster with meshproxy, Istio and
// Linkerd side by side (`meshbench run -target kind`).
//
// It is split in two halves so that everything but the cluster itself can
// be tested without one:
//
//   - Pure functions from (scenario, Options) to an ordered Plan of actions:
//     kubectl apply of generated manifests, bounded waits, one meshload Job
//     per step, Prometheus reads of each proxy's CPU and memory over the
//     step's window, deletes. Manifests are plain maps rendered as YAML; the
//     tests decode every one strictly into the real Kubernetes and Gateway
//     API types.
//   - An Executor that runs a Plan with kubectl (os/exec, every command with
//     a timeout) and collects a results/schema Run (mode "kind"), and a
//     printer (-dry-run) that prints every command and manifest in order
//     without running any.
//
// Meshes, one namespace each: "none" (no proxy: the direct path added
// latency is measured against), "meshproxy" (sidecars injected by this
// package: an init container installs the same iptables capture as
// scenarios/internal/netns, meshproxy runs as a native sidecar with an mTLS
// identity from `meshbench certs`), "istio" and "linkerd" (their own
// injection, native sidecars). Every namespace gets the same backends (echo
// Deployments and Services) and the scenario's own objects (its HTTPRoute),
// so the routing under test is the same everywhere.
package kube

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Meshes, in the order steps alternate through them.
const (
	MeshNone      = "none"
	MeshMeshproxy = "meshproxy"
	MeshIstio     = "istio"
	MeshLinkerd   = "linkerd"
)

// AllMeshes is the default mesh list.
var AllMeshes = []string{MeshNone, MeshMeshproxy, MeshIstio, MeshLinkerd}

// Istio data-plane modes.
const (
	IstioSidecar = "sidecar"
	IstioAmbient = "ambient"
)

// Images are the container images the plan uses. make bench-kind builds
// the meshbench ones from bin/ (deploy/docker) and loads them into the
// cluster with `kind load docker-image`; they are never pulled
// (imagePullPolicy Never), so a missing load fails fast and clearly.
type Images struct {
	Meshproxy     string
	MeshproxyInit string
	Meshload      string
	Echo          string
}

// Options configure the plan. The zero value is not valid: start from
// DefaultOptions (or OptionsFromEnv).
type Options struct {
	Meshes []string // subset of AllMeshes; must include "none"
	Images Images
	// NamespacePrefix + mesh is each mesh's namespace.
	NamespacePrefix string
	// IstioMode is "sidecar" (default) or "ambient" (ztunnel plus a
	// waypoint per namespace, so HTTPRoutes still apply).
	IstioMode string
	// Monitoring is the namespace of the Prometheus that
	// scripts/kind/install.sh deploys; PrometheusService is its Service
	// "name:port", read through the API server's service proxy.
	Monitoring        string
	PrometheusService string
	// ScrapeSettle is how long to wait after a step before reading its
	// figures, so Prometheus has scraped the step's last samples.
	ScrapeSettle time.Duration
	// ReadyTimeout bounds every wait for Deployments; JobSlack is added to a
	// step's warm-up and duration to bound its Job.
	ReadyTimeout time.Duration
	JobSlack     time.Duration
	// KeepNamespaces skips the final delete (for debugging a run).
	KeepNamespaces bool
	// Context is the kubeconfig context ("" = current); kind names it
	// "kind-" + cluster name.
	Context string
	// Kubectl and Meshbench are the programs the executor runs ("kubectl"
	// from PATH, and this very binary for `meshbench certs`).
	Kubectl   string
	Meshbench string
	// EventLoops for meshproxy sidecars; -1 takes the scenario's (its
	// first sidecar-pair target's, else its first meshproxy target's).
	EventLoops int
}

// Labels and names shared by the manifests, the scripts and the dashboards.
const (
	// RoleLabel is the node label scripts/kind/kind-config.yaml sets: the
	// load generator runs on the "load" worker, the backends on "server".
	RoleLabel  = "meshbench.dev/role"
	RoleLoad   = "load"
	RoleServer = "server"

	partOf       = "app.kubernetes.io/part-of"
	partOfValue  = "meshbench"
	meshLabel    = "meshbench.dev/mesh"
	stepLabel    = "meshbench.dev/step"
	loadSA       = "meshload"
	trustDomain  = "cluster.local"
	appPort      = 8080
	proxyUID     = 1337
	appUID       = 65532 // distroless "nonroot"
	adminPort    = 15000
	outboundPort = 15001
	inboundPort  = 15006
	configMap    = "meshproxy-config"
	identSecret  = "meshproxy-identities"
)

// DefaultOptions are the settings make bench-kind uses.
func DefaultOptions() Options {
	return Options{
		Meshes: slices.Clone(AllMeshes),
		Images: Images{
			Meshproxy:     "meshbench/meshproxy:dev",
			MeshproxyInit: "meshbench/meshproxy-init:dev",
			Meshload:      "meshbench/meshload:dev",
			Echo:          "meshbench/echo:dev",
		},
		NamespacePrefix:   "meshbench-",
		IstioMode:         IstioSidecar,
		Monitoring:        "meshbench-monitoring",
		PrometheusService: "prometheus:9090",
		ScrapeSettle:      20 * time.Second,
		ReadyTimeout:      5 * time.Minute,
		JobSlack:          2 * time.Minute,
		Kubectl:           "kubectl",
		Meshbench:         "meshbench",
		EventLoops:        -1,
	}
}

// Env is the environment OptionsFromEnv reads (os.Getenv in production).
type Env func(string) string

// OptionsFromEnv is DefaultOptions with the overrides make bench-kind
// passes through the environment:
//
//	MESHBENCH_KIND_MESHES     comma-separated meshes (default none,meshproxy,istio,linkerd)
//	MESHBENCH_IMAGE_TAG       tag of the four meshbench images (default dev)
//	MESHBENCH_ISTIO_MODE      sidecar (default) or ambient
//	MESHBENCH_KIND_CONTEXT    kubeconfig context (default: the current one)
//	MESHBENCH_KUBECTL         kubectl to run (default kubectl from PATH)
//	MESHBENCH_KEEP_NAMESPACES 1 keeps the namespaces after the run
//	MESHBENCH_EVENT_LOOPS     meshproxy eventLoops (default: the scenario's)
func OptionsFromEnv(env Env) (Options, error) {
	if env == nil {
		env = os.Getenv
	}
	o := DefaultOptions()
	if v := env("MESHBENCH_KIND_MESHES"); v != "" {
		o.Meshes = nil
		for _, m := range strings.Split(v, ",") {
			o.Meshes = append(o.Meshes, strings.TrimSpace(m))
		}
	}
	if v := env("MESHBENCH_IMAGE_TAG"); v != "" {
		o.Images = Images{
			Meshproxy:     "meshbench/meshproxy:" + v,
			MeshproxyInit: "meshbench/meshproxy-init:" + v,
			Meshload:      "meshbench/meshload:" + v,
			Echo:          "meshbench/echo:" + v,
		}
	}
	if v := env("MESHBENCH_ISTIO_MODE"); v != "" {
		o.IstioMode = v
	}
	o.Context = env("MESHBENCH_KIND_CONTEXT")
	if v := env("MESHBENCH_KUBECTL"); v != "" {
		o.Kubectl = v
	}
	o.KeepNamespaces = env("MESHBENCH_KEEP_NAMESPACES") == "1"
	if v := env("MESHBENCH_EVENT_LOOPS"); v != "" {
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 0 || n > 256 {
			return o, fmt.Errorf("MESHBENCH_EVENT_LOOPS=%q: want 0-256", v)
		}
		o.EventLoops = n
	}
	return o, o.Validate()
}

// Validate checks the options; errors name the setting.
func (o Options) Validate() error {
	if len(o.Meshes) == 0 {
		return fmt.Errorf("kind: no meshes")
	}
	seen := map[string]bool{}
	for _, m := range o.Meshes {
		if !slices.Contains(AllMeshes, m) {
			return fmt.Errorf("kind: mesh %q: want %s", m, strings.Join(AllMeshes, ", "))
		}
		if seen[m] {
			return fmt.Errorf("kind: mesh %q listed twice", m)
		}
		seen[m] = true
	}
	if !seen[MeshNone] {
		return fmt.Errorf("kind: meshes %v lack %q: added latency is measured against it", o.Meshes, MeshNone)
	}
	if o.IstioMode != IstioSidecar && o.IstioMode != IstioAmbient {
		return fmt.Errorf("kind: istio mode %q: want sidecar or ambient", o.IstioMode)
	}
	for name, img := range map[string]string{"meshproxy": o.Images.Meshproxy, "meshproxy-init": o.Images.MeshproxyInit, "meshload": o.Images.Meshload, "echo": o.Images.Echo} {
		if img == "" || strings.ContainsAny(img, " \t\n") {
			return fmt.Errorf("kind: %s image %q", name, img)
		}
	}
	if o.NamespacePrefix == "" || o.Monitoring == "" || o.PrometheusService == "" || o.Kubectl == "" || o.Meshbench == "" {
		return fmt.Errorf("kind: namespace prefix, monitoring namespace, Prometheus service, kubectl and meshbench must be set")
	}
	if o.ReadyTimeout <= 0 || o.JobSlack <= 0 || o.ScrapeSettle < 0 {
		return fmt.Errorf("kind: timeouts must be > 0")
	}
	return nil
}

// Namespace is the namespace of a mesh.
func (o Options) Namespace(mesh string) string { return o.NamespacePrefix + mesh }
