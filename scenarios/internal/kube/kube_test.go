package kube

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshbench/meshbench/deploy/kubecheck"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const repo = "../../.."

func load(t *testing.T, name string) *scenario.Scenario {
	t.Helper()
	// Load with the path as the golden shows it (relative to the repo).
	wd, _ := os.Getwd()
	if err := os.Chdir(repo); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	sc, err := scenario.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func scenarios(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repo, "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("scenarios: %v %v", files, err)
	}
	var out []string
	for _, f := range files {
		out = append(out, filepath.Join("scenarios", filepath.Base(f)))
	}
	return out
}

// TestDryRunGolden: the dry run of scenarios/default.yaml, as make
// bench-kind runs it, is testdata/default.dryrun.golden (-update rewrites
// it).
func TestDryRunGolden(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []*scenario.Scenario{load(t, "scenarios/default.yaml")},
		CLI{DryRun: true, Env: func(string) string { return "" }}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	golden := filepath.Join("testdata", "default.dryrun.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run TestDryRunGolden -update writes it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		gl, wl := strings.Split(out.String(), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("dry run differs from %s at line %d:\n got: %s\nwant: %s\n(go test -run TestDryRunGolden -update rewrites it)", golden, i+1, g, w)
			}
		}
	}
}

// manifests are every manifest a plan applies: the setup's, each step's
// Job, and the meshproxy ConfigMap as a sync writes it from a live list.
func manifests(t *testing.T, p *Plan) []string {
	t.Helper()
	live, err := os.ReadFile("testdata/live.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range p.Setup {
		if a.Stdin != "" {
			out = append(out, a.Stdin)
		}
		if a.Kind == ActSync {
			cfg, _, err := MeshproxyConfig(a.Sync.Namespace, p.Scenario, a.Sync.EventLoops, live)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, mustRender(ConfigMapObject(a.Sync.Namespace, cfg)))
		}
	}
	for _, a := range p.Steps {
		out = append(out, a.Step.Manifest)
	}
	return out
}

// TestGeneratedObjectsStrict: every object a plan applies, for every
// scenario and both Istio modes, decodes strictly into the real API types,
// and the pods are wired as the benchmark needs.
func TestGeneratedObjectsStrict(t *testing.T) {
	for _, file := range scenarios(t) {
		if !slices.Contains(load(t, file).Protocol, scenario.ProtocolHTTP1) {
			continue // kind runs HTTP/1.1 steps only and refuses a scenario without them (TestMeshProtocolOnKind and plan.go)
		}
		for _, mode := range []string{IstioSidecar, IstioAmbient} {
			o := DefaultOptions()
			o.IstioMode = mode
			p, err := BuildPlan(load(t, file), o)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			kinds := map[string]int{}
			for _, m := range manifests(t, p) {
				docs, err := kubecheck.DecodeAll([]byte(m))
				if err != nil {
					t.Fatalf("%s (%s): %v\n%s", file, mode, err, m)
				}
				for _, d := range docs {
					kinds[d.Kind]++
					checkObject(t, d.Value)
				}
			}
			want := len(p.Steps)
			if kinds["Job"] != want || kinds["Namespace"] != 4 || kinds["Deployment"] != 4*len(p.Scenario.Backends) {
				t.Errorf("%s (%s): objects %v", file, mode, kinds)
			}
			if mode == IstioAmbient && kinds["Gateway"] != 1 {
				t.Errorf("%s: ambient without a waypoint: %v", file, kinds)
			}
		}
	}
}

// checkObject checks what the benchmark relies on in a decoded object.
func checkObject(t *testing.T, v any) {
	t.Helper()
	var pod *corev1.PodSpec
	var ns string
	switch o := v.(type) {
	case *appsv1.Deployment:
		pod, ns = &o.Spec.Template.Spec, o.Namespace
		if o.Spec.Template.Spec.NodeSelector[RoleLabel] != RoleServer {
			t.Errorf("deployment %s/%s not on the server node", ns, o.Name)
		}
	case *batchv1.Job:
		pod, ns = &o.Spec.Template.Spec, o.Namespace
		if pod.NodeSelector[RoleLabel] != RoleLoad || o.Spec.ActiveDeadlineSeconds == nil || *o.Spec.BackoffLimit != 0 {
			t.Errorf("job %s/%s: node %v, deadline %v", ns, o.Name, pod.NodeSelector, o.Spec.ActiveDeadlineSeconds)
		}
	default:
		return
	}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		if c.ImagePullPolicy != corev1.PullNever {
			t.Errorf("%s: container %s pulls its image", ns, c.Name)
		}
		if c.Name != "meshproxy-init" && (c.SecurityContext == nil || c.SecurityContext.RunAsUser == nil) {
			t.Errorf("%s: container %s without a fixed uid", ns, c.Name)
		}
	}
	sidecar := false
	for _, c := range pod.InitContainers {
		if c.Name == "meshproxy" {
			sidecar = true
			if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways || c.ReadinessProbe == nil ||
				c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/ready" || *c.SecurityContext.RunAsUser != proxyUID {
				t.Errorf("%s: meshproxy is not a native sidecar ready on /ready as uid %d", ns, proxyUID)
			}
		}
	}
	if sidecar != strings.HasSuffix(ns, MeshMeshproxy) {
		t.Errorf("%s: meshproxy sidecar %v", ns, sidecar)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{
		"MESHBENCH_KIND_MESHES": "none, istio", "MESHBENCH_IMAGE_TAG": "abc", "MESHBENCH_ISTIO_MODE": "ambient",
		"MESHBENCH_KIND_CONTEXT": "kind-x", "MESHBENCH_KEEP_NAMESPACES": "1", "MESHBENCH_EVENT_LOOPS": "2",
	}
	o, err := OptionsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.Meshes, ",") != "none,istio" || o.Images.Meshload != "meshbench/meshload:abc" || o.IstioMode != IstioAmbient ||
		o.Context != "kind-x" || !o.KeepNamespaces || o.EventLoops != 2 {
		t.Errorf("options %+v", o)
	}
	if got := strings.Join(o.kubectl("get", "x"), " "); got != "kubectl --context kind-x get x" {
		t.Errorf("kubectl argv %s", got)
	}
	for _, bad := range []map[string]string{
		{"MESHBENCH_KIND_MESHES": "istio,linkerd"}, // no none
		{"MESHBENCH_KIND_MESHES": "none,consul"},
		{"MESHBENCH_KIND_MESHES": "none,none"},
		{"MESHBENCH_ISTIO_MODE": "sidecarless"},
		{"MESHBENCH_EVENT_LOOPS": "-1"},
		{"MESHBENCH_IMAGE_TAG": "a b"},
	} {
		if _, err := OptionsFromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestPathBackendsAndEventLoops(t *testing.T) {
	sc := load(t, "scenarios/default.yaml")
	if got := strings.Join(PathBackends(sc), ","); got != "echo-v1,echo-v2" {
		t.Errorf("PathBackends(default) = %s", got)
	}
	sc2 := *sc
	sc2.Objects = nil
	if got := strings.Join(PathBackends(&sc2), ","); got != "echo" {
		t.Errorf("PathBackends(no routes) = %s", got)
	}
	o := DefaultOptions()
	sc2.Targets = []scenario.Target{{Name: "d", Kind: "direct"}, {Name: "a", Kind: "meshproxy", EventLoops: 3},
		{Name: "b", Kind: "meshproxy", Topology: scenario.TopoSidecarPair, EventLoops: 2}}
	if n := EventLoops(o, &sc2); n != 2 {
		t.Errorf("EventLoops = %d, want the sidecar pair's 2", n)
	}
	o.EventLoops = 1
	if n := EventLoops(o, &sc2); n != 1 {
		t.Errorf("EventLoops = %d, want the option's 1", n)
	}
}

// TestScenarioObjectsPlacement: objects move to the mesh's namespace and
// nothing else changes; EndpointSlices and fixed cluster IPs stay behind.
func TestScenarioObjectsPlacement(t *testing.T) {
	sc := &scenario.Scenario{Objects: []map[string]any{
		{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
			"metadata": map[string]any{"name": "r", "namespace": "default"},
			"spec": map[string]any{
				"parentRefs": []any{map[string]any{"group": "", "kind": "Service", "name": "echo", "namespace": "default"}},
				"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": "b", "namespace": "other"}}}},
			}},
		{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "x"},
			"spec": map[string]any{"clusterIP": "10.96.0.99", "ports": []any{map[string]any{"port": 80}}}},
		{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": map[string]any{"name": "x-1"}},
	}}
	var warnings []string
	objs := ScenarioObjects("meshbench-istio", sc, func(s string) { warnings = append(warnings, s) })
	if len(objs) != 2 || len(warnings) != 2 {
		t.Fatalf("objects %v, warnings %v", objs, warnings)
	}
	got := mustRender(objs...)
	for _, want := range []string{"namespace: meshbench-istio\n", "namespace: other\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "default") || strings.Contains(got, "10.96.0.99") {
		t.Errorf("left over:\n%s", got)
	}
	if sc.Objects[0]["metadata"].(map[string]any)["namespace"] != "default" {
		t.Error("the scenario's own object was modified")
	}
}

// TestMeshproxyConfigFromLive: Services keep their cluster IP and get the
// identity of their pods, only ready endpoints are listed, headless
// Services and kubectl's bookkeeping fields are left out.
func TestMeshproxyConfigFromLive(t *testing.T) {
	live, err := os.ReadFile("testdata/live.json")
	if err != nil {
		t.Fatal(err)
	}
	sc := load(t, "scenarios/default.yaml")
	cfg, ready, err := MeshproxyConfig("meshbench-meshproxy", sc, 1, live)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"clusterIP: 10.96.88.7\n",
		"meshbench.dev/identity: spiffe://cluster.local/ns/meshbench-meshproxy/sa/echo-v1\n",
		"- 10.244.2.6\n",
		"kind: HTTPRoute\n",
		"eventLoops: 1\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	for _, not := range []string{"10.244.2.99", "generateName", "ownerReferences", "headless", "uid:", "targetPort"} {
		if strings.Contains(cfg, not) {
			t.Errorf("config has %q", not)
		}
	}
	if ready["echo"] != 1 || ready["echo-v1"] != 1 || ready["echo-v2"] != 1 {
		t.Errorf("ready %v", ready)
	}
	if _, _, err := MeshproxyConfig("x", sc, 0, []byte("{")); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestMainRejects(t *testing.T) {
	sc := load(t, "scenarios/default.yaml")
	var out, errb bytes.Buffer
	env := func(k string) string {
		if k == "MESHBENCH_KIND_MESHES" {
			return "istio"
		}
		return ""
	}
	if code := Main(context.Background(), []*scenario.Scenario{sc}, CLI{DryRun: true, Env: env}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), `lack "none"`) {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	errb.Reset()
	env2 := func(k string) string {
		if k == "MESHBENCH_KUBECTL" {
			return "/nonexistent/kubectl"
		}
		return ""
	}
	if code := Main(context.Background(), []*scenario.Scenario{sc}, CLI{OutDir: t.TempDir(), Env: env2}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "not found") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}

// TestCPUsIgnoredOnKind: a scenario's cpus lists do not apply to pods, and
// the run says so instead of dropping them silently.
func TestCPUsIgnoredOnKind(t *testing.T) {
	sc := *load(t, "scenarios/default.yaml")
	p, err := BuildPlan(&sc, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(p.Warnings, "\n"); strings.Contains(w, "cpus") {
		t.Errorf("no cpus set, yet warned: %s", w)
	}
	sc.CPUs = scenario.CPUs{Load: "0", Targets: "1"}
	if p, err = BuildPlan(&sc, DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(p.Warnings, "\n"); !strings.Contains(w, `cpus (load "0", targets "1") ignored on kind`) {
		t.Errorf("cpus set, warnings: %s", w)
	}
}

// TestProtocolsOnKind: kind measures HTTP/1.1 only. A scenario with more
// protocols runs its HTTP/1.1 steps there and says so; one without
// HTTP/1.1 is refused.
func TestProtocolsOnKind(t *testing.T) {
	sc := *load(t, "scenarios/default.yaml")
	p, err := BuildPlan(&sc, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(p.Warnings, "\n"); !strings.Contains(w, "kind runs http/1.1 only for now") {
		t.Errorf("warnings: %s", w)
	}
	if want := len(sc.RatesFor(scenario.ProtocolHTTP1)) * sc.Load.Repetitions * len(DefaultOptions().Meshes); len(p.Steps) != want {
		t.Errorf("%d steps, want %d (HTTP/1.1 only)", len(p.Steps), want)
	}
	sc.Protocol = scenario.Protocols{scenario.ProtocolH2}
	if _, err := BuildPlan(&sc, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "protocol h2: kind runs http/1.1 only") {
		t.Errorf("h2 only: %v", err)
	}
}

// TestMeshProtocolOnKind: an HTTP/1.1 mesh hop is a loopback target; on
// kind the one mesh offers h2, and the plan says so.
func TestMeshProtocolOnKind(t *testing.T) {
	sc := *load(t, "scenarios/default.yaml")
	pair := scenario.Target{Name: "pair", Kind: scenario.KindMeshproxy, Topology: scenario.TopoSidecarPair, TLS: scenario.TLSMutual, MeshProtocol: scenario.ProtocolH2}
	h1hop := pair
	h1hop.Name, h1hop.MeshProtocol = "pair-h1hop", scenario.ProtocolHTTP1
	sc.Targets = []scenario.Target{{Name: "direct", Kind: scenario.KindDirect, Topology: scenario.TopoDirect}, pair, h1hop}
	p, err := BuildPlan(&sc, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(p.Warnings, "\n"); !strings.Contains(w, "target pair-h1hop's meshProtocol http/1.1 runs on loopback only") ||
		strings.Count(w, "meshProtocol") != 1 {
		t.Errorf("warnings: %s", w)
	}
}
