package kube

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// ActionKind says how the executor runs an action.
type ActionKind int

const (
	// ActRun runs Argv (with Stdin, when set) once; a failure ends the
	// setup (the run's steps are then recorded as failed) unless Optional.
	ActRun ActionKind = iota
	// ActSync writes meshproxy's config (MeshproxyConfig) from the live
	// Services and EndpointSlices of a namespace.
	ActSync
	// ActStep is one measured step (StepSpec).
	ActStep
)

// Action is one thing the plan does, in order.
type Action struct {
	Kind    ActionKind
	Comment string // one line: why
	Argv    []string
	Stdin   string // a manifest piped to `kubectl apply -f -`
	Timeout time.Duration
	// Optional failures are recorded as run warnings and the run goes on.
	Optional bool
	// Version names the component whose version this command's output
	// is (recorded in the result's environment.versions); VersionJSON
	// means the output is /version JSON (its gitVersion is taken).
	Version     string
	VersionJSON bool
	// RoutesOf is the mesh whose HTTPRoutes this command lists, to record
	// whether the mesh accepted them.
	RoutesOf string
	Sync     *SyncSpec
	Step     *StepSpec
}

// SyncSpec is an ActSync: read the namespace's Services and EndpointSlices,
// write the meshproxy-config ConfigMap. With WantReady it retries (until
// Timeout) until every backend has as many ready endpoints as replicas.
type SyncSpec struct {
	Namespace  string
	EventLoops int
	WantReady  bool
	Timeout    time.Duration
}

// StepSpec is one step: meshload at one rate in one mesh's namespace.
type StepSpec struct {
	Seq, Total int
	Mesh       string
	Namespace  string
	Rate       float64
	Rep        int
	// Target, Kind, Topology and TLS are the result step's fields.
	Target, Kind, Topology, TLS string
	Job                         string
	Manifest                    string
	Warmup, Duration            time.Duration
	WaitTimeout                 time.Duration
	PathBackends                []string
}

// Plan is a whole run on kind, in order: Setup, then Steps, then Cleanup
// (which the executor runs on every exit path).
type Plan struct {
	Scenario *scenario.Scenario
	Options  Options
	Setup    []Action
	Steps    []Action
	Cleanup  []Action
	// Warnings say how the scenario was mapped onto kind (targets that do
	// not apply there, what the meshproxy targets became).
	Warnings []string
	// EventLoops is the meshproxy sidecars' eventLoops.
	EventLoops int
}

// kubectl is an argv for kubectl with the configured context.
func (o Options) kubectl(args ...string) []string {
	argv := []string{o.Kubectl}
	if o.Context != "" {
		argv = append(argv, "--context", o.Context)
	}
	return append(argv, args...)
}

func secs(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds()))) + "s"
}

// stepMeta is the result-step identity of a mesh.
func stepMeta(o Options, mesh string) (target, kind, topology, tls string) {
	switch mesh {
	case MeshNone:
		return MeshNone, scenario.KindDirect, scenario.TopoDirect, "none"
	case MeshIstio:
		if o.IstioMode == IstioAmbient {
			return mesh, mesh, "ambient", "mtls"
		}
	}
	return mesh, mesh, scenario.TopoSidecarPair, "mtls"
}

// BuildPlan maps a scenario onto kind. It is a pure function of its
// arguments: -dry-run prints its result, the executor runs it.
func BuildPlan(sc *scenario.Scenario, o Options) (*Plan, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if len(sc.Backends) == 0 || len(sc.Load.Rates) == 0 {
		return nil, fmt.Errorf("%s: a scenario needs backends and rates (load it with scenario.Load)", sc.File)
	}
	if !sc.Protocol.Has(scenario.ProtocolHTTP1) {
		return nil, fmt.Errorf("%s: protocol %s: kind runs %s only for now (h2 and grpc are measured on loopback)",
			sc.File, strings.Join(sc.Protocol, ", "), scenario.ProtocolHTTP1)
	}
	p := &Plan{Scenario: sc, Options: o, EventLoops: EventLoops(o, sc)}
	warn := func(s string) { p.Warnings = append(p.Warnings, s) }
	if len(sc.Protocol) > 1 {
		warn(fmt.Sprintf("protocol %s: kind runs %s only for now; the other protocols are measured on loopback",
			strings.Join(sc.Protocol, ", "), scenario.ProtocolHTTP1))
	}
	p.mapTargets(warn)
	if sc.CPUs != (scenario.CPUs{}) {
		warn(fmt.Sprintf("cpus (load %q, targets %q) ignored on kind: the kubelet assigns pods their CPUs (its static CPU manager policy pins Guaranteed pods)",
			sc.CPUs.Load, sc.CPUs.Targets))
	}
	has := map[string]bool{}
	for _, m := range o.Meshes {
		has[m] = true
	}

	// 1. What the run needs is there, and which versions it is.
	p.Setup = append(p.Setup,
		Action{Kind: ActRun, Comment: "the cluster answers; its Kubernetes version", Argv: o.kubectl("get", "--raw", "/version"),
			Timeout: 30 * time.Second, Version: "kubernetes", VersionJSON: true},
		Action{Kind: ActRun, Comment: "Gateway API CRDs (scripts/kind/install.sh) for the scenario's HTTPRoutes",
			Argv:    o.kubectl("get", "crd", "httproutes.gateway.networking.k8s.io", "-o", `jsonpath={.metadata.annotations.gateway\.networking\.k8s\.io/bundle-version}`),
			Timeout: 30 * time.Second, Version: "gateway-api"},
		Action{Kind: ActRun, Comment: "Prometheus (scripts/kind/install.sh) for per-container CPU and memory",
			Argv:    o.kubectl("get", "deployment", "prometheus", "-n", o.Monitoring, "-o", "jsonpath={.spec.template.spec.containers[0].image}"),
			Timeout: 30 * time.Second, Version: "prometheus"},
	)
	if has[MeshIstio] {
		p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: "Istio's control plane (scripts/kind/install.sh)",
			Argv:    o.kubectl("get", "deployment", "istiod", "-n", "istio-system", "-o", "jsonpath={.spec.template.spec.containers[0].image}"),
			Timeout: 30 * time.Second, Version: "istio"})
	}
	if has[MeshLinkerd] {
		p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: "Linkerd's control plane (scripts/kind/install.sh)",
			Argv:    o.kubectl("get", "deployment", "linkerd-destination", "-n", "linkerd", "-o", `jsonpath={.metadata.annotations.linkerd\.io/created-by}`),
			Timeout: 30 * time.Second, Version: "linkerd"})
	}

	// 2. Fresh namespaces: whatever an interrupted run left is removed.
	var all []string
	for _, m := range o.Meshes {
		all = append(all, o.Namespace(m))
	}
	p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: "remove what an earlier, interrupted run left",
		Argv:    o.kubectl(append(append([]string{"delete", "namespace"}, all...), "--ignore-not-found", "--wait", "--timeout="+secs(o.ReadyTimeout))...),
		Timeout: o.ReadyTimeout + 30*time.Second})

	// 3. meshproxy's identities, made locally by `meshbench certs`.
	if has[MeshMeshproxy] {
		ns := o.Namespace(MeshMeshproxy)
		p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: "meshproxy's CA and SPIFFE identities (one per service account)",
			Argv:    []string{o.Meshbench, "certs", "-out", "$WORK/certs", "-identities", strings.Join(identities(ns, sc), ","), "-trust-domain", trustDomain},
			Timeout: 30 * time.Second})
	}

	// 4. Namespaces, then everything but the workloads.
	for _, m := range o.Meshes {
		ns := o.Namespace(m)
		p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: fmt.Sprintf("namespace of mesh %s", m),
			Argv: o.kubectl("apply", "-f", "-"), Stdin: mustRender(NamespaceObject(o, m)), Timeout: time.Minute})
		var w func(string)
		if m == o.Meshes[0] {
			w = warn // the same remarks for every namespace: say them once
		}
		p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: fmt.Sprintf("%s: service accounts, the backends' Services and the scenario's objects", m),
			Argv: o.kubectl("apply", "-f", "-"), Stdin: mustRender(BaseObjects(o, m, sc, w)...), Timeout: time.Minute})
		if m == MeshMeshproxy {
			p.Setup = append(p.Setup,
				Action{Kind: ActRun, Comment: "meshproxy: the CA certificate and the namespace's identities as a Secret",
					Argv: o.kubectl(secretArgs(ns, "$WORK/certs", sc)...), Timeout: time.Minute},
				Action{Kind: ActSync, Comment: "meshproxy: config with the Services' cluster IPs (endpoints follow once the pods run)",
					Sync: &SyncSpec{Namespace: ns, EventLoops: p.EventLoops, Timeout: time.Minute}},
			)
		}
	}

	// 5. The backends, then wait for all of them.
	for _, m := range o.Meshes {
		var deps []Object
		for _, b := range sc.Backends {
			deps = append(deps, BackendDeployment(o, m, sc, b))
		}
		p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: fmt.Sprintf("%s: the backends (meshbench echo) on the server node", m),
			Argv: o.kubectl("apply", "-f", "-"), Stdin: mustRender(deps...), Timeout: time.Minute})
	}
	for _, m := range o.Meshes {
		ns := o.Namespace(m)
		p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: fmt.Sprintf("%s: every backend ready", m),
			Argv:    o.kubectl("wait", "-n", ns, "--for=condition=Available", "deployment", "--all", "--timeout="+secs(o.ReadyTimeout)),
			Timeout: o.ReadyTimeout + 30*time.Second})
		if m == MeshIstio && o.IstioMode == IstioAmbient {
			p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: "istio (ambient): the namespace's waypoint programmed",
				Argv:    o.kubectl("wait", "-n", ns, "--for=condition=Programmed", "gateway/waypoint", "--timeout="+secs(o.ReadyTimeout)),
				Timeout: o.ReadyTimeout + 30*time.Second})
		}
		if m == MeshMeshproxy {
			p.Setup = append(p.Setup, Action{Kind: ActSync, Comment: "meshproxy: config with every backend's ready endpoints",
				Sync: &SyncSpec{Namespace: ns, EventLoops: p.EventLoops, WantReady: true, Timeout: 2 * time.Minute}})
		}
		if (m == MeshIstio || m == MeshLinkerd) && hasRoutes(sc) {
			p.Setup = append(p.Setup, Action{Kind: ActRun, Comment: fmt.Sprintf("%s: did the mesh accept the scenario's HTTPRoutes (status.parents)?", m),
				Argv: o.kubectl("get", "httproutes", "-n", ns, "-o", "json"), Timeout: 30 * time.Second, Optional: true, RoutesOf: m})
		}
	}

	// 6. The steps: meshes alternate within each rate and repetition.
	l := sc.Load
	rates := sc.RatesFor(scenario.ProtocolHTTP1)
	total := len(rates) * l.Repetitions * len(o.Meshes)
	seq := 0
	path := PathBackends(sc)
	for _, rate := range rates {
		for rep := 1; rep <= l.Repetitions; rep++ {
			for _, m := range o.Meshes {
				seq++
				target, kind, topo, tls := stepMeta(o, m)
				st := &StepSpec{
					Seq: seq, Total: total, Mesh: m, Namespace: o.Namespace(m), Rate: rate, Rep: rep,
					Target: target, Kind: kind, Topology: topo, TLS: tls,
					Job: JobName(seq), Manifest: mustRender(LoadJob(o, m, sc, rate, seq)),
					Warmup: l.Warmup, Duration: l.Duration,
					WaitTimeout:  jobDeadline(o, sc) + 30*time.Second,
					PathBackends: path,
				}
				p.Steps = append(p.Steps, Action{Kind: ActStep, Step: st,
					Comment: fmt.Sprintf("step %d/%d: %s, %g req/s, repetition %d", seq, total, m, rate, rep)})
			}
		}
	}

	// 7. Clean up.
	if !o.KeepNamespaces {
		p.Cleanup = append(p.Cleanup, Action{Kind: ActRun, Comment: "delete the run's namespaces (MESHBENCH_KEEP_NAMESPACES=1 keeps them)",
			Argv:    o.kubectl(append(append([]string{"delete", "namespace"}, all...), "--ignore-not-found", "--wait", "--timeout="+secs(o.ReadyTimeout))...),
			Timeout: o.ReadyTimeout + 30*time.Second, Optional: true})
	}
	return p, nil
}

func hasRoutes(sc *scenario.Scenario) bool {
	for _, obj := range sc.Objects {
		if obj["kind"] == "HTTPRoute" {
			return true
		}
	}
	return false
}

// mapTargets says how the scenario's targets map onto the meshes.
func (p *Plan) mapTargets(warn func(string)) {
	var mp, split []string
	for _, t := range p.Scenario.Targets {
		switch t.Kind {
		case scenario.KindDirect:
		case scenario.KindMeshproxy:
			mp = append(mp, t.Name)
			if len(t.Split) > 0 {
				split = append(split, t.Name)
			}
			if t.MeshProtocol == scenario.ProtocolHTTP1 {
				// The mesh's sidecars share one config: no target of its own.
				warn(fmt.Sprintf("target %s's meshProtocol %s runs on loopback only; on kind every meshproxy mesh hop offers h2 (meshproxy's default)", t.Name, t.MeshProtocol))
			}
		default:
			warn(fmt.Sprintf("target %s (%s) does not run on kind: peers are measured on loopback", t.Name, t.Kind))
		}
	}
	if len(mp) > 0 {
		warn(fmt.Sprintf("meshproxy targets %s run on kind as one mesh, as Istio and Linkerd do: every pod has a meshproxy sidecar "+
			"(meshload -> client sidecar =mTLS=> server sidecar -> echo), with eventLoops %d", strings.Join(mp, ", "), p.EventLoops))
	}
	if len(split) > 0 {
		warn(fmt.Sprintf("the split check of %s runs on loopback only; on kind every mesh gets the scenario's HTTPRoutes and the run records whether Istio and Linkerd accepted them",
			strings.Join(split, ", ")))
	}
}

// The commands of a step, shared by the executor and the printer.

func (s *StepSpec) applyArgv(o Options) []string { return o.kubectl("apply", "-f", "-") }

func (s *StepSpec) waitArgv(o Options, cond string) []string {
	return o.kubectl("wait", "-n", s.Namespace, "--for=condition="+cond, "job/"+s.Job, "--timeout="+secs(s.WaitTimeout))
}

func (s *StepSpec) logsArgv(o Options) []string {
	return o.kubectl("logs", "-n", s.Namespace, "job/"+s.Job, "-c", "meshload")
}

func (s *StepSpec) statusArgv(o Options) []string {
	return o.kubectl("get", "job", s.Job, "-n", s.Namespace, "-o", "jsonpath={.status}")
}

func (s *StepSpec) deleteArgv(o Options) []string {
	return o.kubectl("delete", "job", s.Job, "-n", s.Namespace, "--cascade=foreground", "--ignore-not-found", "--timeout=120s")
}

// promArgv reads an instant query at time at (Unix seconds, or a
// placeholder) through the API server's service proxy.
func (o Options) promArgv(query, at string) []string {
	q := "query=" + url.QueryEscape(query) + "&time=" + at
	return o.kubectl("get", "--raw", "/api/v1/namespaces/"+o.Monitoring+"/services/"+o.PrometheusService+"/proxy/api/v1/query?"+q)
}

// Query is one PromQL query of a step.
type Query struct {
	Name   string // cpu, mem_max, mem_avg, samples, node_cpu, ns_cpu, cores
	PromQL string
}

// CAdvisorMetrics are the container metrics (kubelet's cAdvisor) the
// steps read; dashboards/ may query them too.
var CAdvisorMetrics = []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "machine_cpu_cores"}

// proxySelectors are the label matchers of a mesh's proxy containers.
func (o Options) proxySelectors(mesh, ns string) []string {
	switch mesh {
	case MeshMeshproxy:
		return []string{fmt.Sprintf(`namespace=%q,container="meshproxy"`, ns)}
	case MeshLinkerd:
		return []string{fmt.Sprintf(`namespace=%q,container="linkerd-proxy"`, ns)}
	case MeshIstio:
		if o.IstioMode == IstioAmbient {
			return []string{
				`namespace="istio-system",container="istio-proxy",pod=~"ztunnel-.*"`,
				fmt.Sprintf(`namespace=%q,container="istio-proxy",pod=~"waypoint-.*"`, ns),
			}
		}
		return []string{fmt.Sprintf(`namespace=%q,container="istio-proxy"`, ns)}
	}
	return nil
}

// Queries are a step's PromQL queries, all evaluated at the end of the
// measured window (the window being the step's duration): per proxy
// container its CPU seconds (increase of the cumulative counter), peak
// and mean working set and sample count; and for the busy figure, all
// containers' CPU on the nodes, this namespace's, and the cores.
func (s *StepSpec) Queries(o Options) []Query {
	w := "[" + secs(s.Duration) + "]"
	var q []Query
	for i, sel := range o.proxySelectors(s.Mesh, s.Namespace) {
		sfx := ""
		if i > 0 {
			sfx = strconv.Itoa(i)
		}
		q = append(q,
			Query{"cpu" + sfx, "increase(container_cpu_usage_seconds_total{" + sel + "}" + w + ")"},
			Query{"mem_max" + sfx, "max_over_time(container_memory_working_set_bytes{" + sel + "}" + w + ")"},
			Query{"mem_avg" + sfx, "avg_over_time(container_memory_working_set_bytes{" + sel + "}" + w + ")"},
			Query{"samples" + sfx, "count_over_time(container_memory_working_set_bytes{" + sel + "}" + w + ")"},
		)
	}
	q = append(q,
		Query{"node_cpu", `sum(increase(container_cpu_usage_seconds_total{id="/"}` + w + "))"},
		Query{"ns_cpu", fmt.Sprintf(`sum(increase(container_cpu_usage_seconds_total{namespace=%q,container!=""}`, s.Namespace) + w + "))"},
		Query{"cores", "max(machine_cpu_cores)"},
	)
	return q
}
