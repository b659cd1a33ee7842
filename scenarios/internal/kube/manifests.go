package kube

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// Object is one Kubernetes object as a map, rendered to YAML with sorted
// keys (which puts apiVersion, kind, metadata, spec in that order).
type Object = map[string]any

// podAnnotations go on every pod template in every namespace, so the
// manifests stay identical across meshes: each asks the mesh that injects
// a sidecar to inject it as a Kubernetes native sidecar (an init container
// with restartPolicy Always), which lets a meshload Job complete when
// meshload exits. The meshes ignore each other's annotations.
var podAnnotations = map[string]any{
	"sidecar.istio.io/nativeSidecar":                "true",
	"config.linkerd.io/proxy-enable-native-sidecar": "true",
}

func labels(app string) map[string]any {
	return map[string]any{"app": app, partOf: partOfValue}
}

// NamespaceObject is the namespace of a mesh, labelled (or annotated) so
// that mesh injects its proxies there.
func NamespaceObject(o Options, mesh string) Object {
	meta := map[string]any{
		"name":   o.Namespace(mesh),
		"labels": map[string]any{partOf: partOfValue, meshLabel: mesh},
	}
	l := meta["labels"].(map[string]any)
	switch mesh {
	case MeshIstio:
		if o.IstioMode == IstioAmbient {
			l["istio.io/dataplane-mode"] = "ambient"
			l["istio.io/use-waypoint"] = "waypoint"
		} else {
			l["istio-injection"] = "enabled"
		}
	case MeshLinkerd:
		meta["annotations"] = map[string]any{"linkerd.io/inject": "enabled"}
	}
	return Object{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
}

// BaseObjects are what every mesh's namespace holds before its workloads:
// a ServiceAccount per backend and one for meshload (each an identity in
// the meshes), the backends' Services, the scenario's own objects, and for
// Istio in ambient mode the namespace's waypoint. They are the same in
// every namespace but for metadata.namespace (and the waypoint). warn
// collects what was left out.
func BaseObjects(o Options, mesh string, sc *scenario.Scenario, warn func(string)) []Object {
	ns := o.Namespace(mesh)
	var objs []Object
	for _, sa := range serviceAccounts(sc) {
		objs = append(objs, Object{
			"apiVersion": "v1", "kind": "ServiceAccount",
			"metadata": map[string]any{"name": sa, "namespace": ns, "labels": map[string]any{partOf: partOfValue}},
		})
	}
	for _, b := range sc.Backends {
		objs = append(objs, backendService(ns, b))
	}
	objs = append(objs, ScenarioObjects(ns, sc, warn)...)
	if mesh == MeshIstio && o.IstioMode == IstioAmbient {
		objs = append(objs, Object{
			"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
			"metadata": map[string]any{"name": "waypoint", "namespace": ns,
				"labels": map[string]any{"istio.io/waypoint-for": "service", partOf: partOfValue}},
			"spec": map[string]any{
				"gatewayClassName": "istio-waypoint",
				"listeners":        []any{map[string]any{"name": "mesh", "port": 15008, "protocol": "HBONE"}},
			},
		})
	}
	return objs
}

func serviceAccounts(sc *scenario.Scenario) []string {
	out := []string{loadSA}
	for _, b := range sc.Backends {
		if b.Name != loadSA {
			out = append(out, b.Name)
		}
	}
	return out
}

// backendService is a backend's Service. Its cluster IP is assigned by the
// cluster (the scenario's clusterIP is a loopback-run address).
func backendService(ns string, b scenario.Backend) Object {
	return Object{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": b.Name, "namespace": ns, "labels": labels(b.Name)},
		"spec": map[string]any{
			"selector": map[string]any{"app": b.Name},
			"ports": []any{map[string]any{
				"name": "http", "port": b.Port, "targetPort": "http", "protocol": "TCP", "appProtocol": "http",
			}},
		},
	}
}

// ScenarioObjects are the scenario's objects placed in namespace ns: each
// is deep-copied and only metadata.namespace changes (and an HTTPRoute
// reference's namespace, when it named the object's own namespace).
// EndpointSlices are left out (their addresses belong to a loopback run;
// in the cluster Services get theirs from their selectors), and so is a
// Service's fixed clusterIP, which the cluster assigns instead.
func ScenarioObjects(ns string, sc *scenario.Scenario, warn func(string)) []Object {
	var out []Object
	for _, src := range sc.Objects {
		obj := deepCopy(src).(map[string]any)
		kind, _ := obj["kind"].(string)
		meta, _ := obj["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			obj["metadata"] = meta
		}
		name, _ := meta["name"].(string)
		orig, _ := meta["namespace"].(string)
		if orig == "" {
			orig = "default"
		}
		switch kind {
		case "EndpointSlice":
			if warn != nil {
				warn(fmt.Sprintf("object EndpointSlice %s is not applied on kind: endpoints come from the Services' selectors", name))
			}
			continue
		case "Service":
			if spec, ok := obj["spec"].(map[string]any); ok {
				for _, k := range []string{"clusterIP", "clusterIPs"} {
					if _, set := spec[k]; set {
						delete(spec, k)
						if warn != nil {
							warn(fmt.Sprintf("object Service %s: spec.%s dropped on kind (the cluster assigns it)", name, k))
						}
					}
				}
			}
		case "HTTPRoute":
			if spec, ok := obj["spec"].(map[string]any); ok {
				renameRefs(spec, orig, ns)
			}
		}
		meta["namespace"] = ns
		out = append(out, obj)
	}
	return out
}

// renameRefs rewrites namespace: orig to ns in parentRefs and in
// backendRefs anywhere under an HTTPRoute spec.
func renameRefs(v any, orig, ns string) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if k == "parentRefs" || k == "backendRefs" {
				if list, ok := child.([]any); ok {
					for _, ref := range list {
						if m, ok := ref.(map[string]any); ok && m["namespace"] == orig {
							m["namespace"] = ns
						}
					}
				}
			}
			renameRefs(child, orig, ns)
		}
	case []any:
		for _, child := range x {
			renameRefs(child, orig, ns)
		}
	}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, c := range x {
			m[k] = deepCopy(c)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, c := range x {
			s[i] = deepCopy(c)
		}
		return s
	default:
		return v
	}
}

// BackendDeployment is one backend as a Deployment of `meshbench echo` on
// the server node. In the meshproxy namespace the pod also gets the
// meshproxy-init container and the meshproxy sidecar (what Istio's and
// Linkerd's injectors do in theirs).
func BackendDeployment(o Options, mesh string, sc *scenario.Scenario, b scenario.Backend) Object {
	ns := o.Namespace(mesh)
	pod := map[string]any{
		"serviceAccountName": b.Name,
		"nodeSelector":       map[string]any{RoleLabel: RoleServer},
		"containers": []any{map[string]any{
			"name":            "echo",
			"image":           o.Images.Echo,
			"imagePullPolicy": "Never",
			"args": []any{"-listen", "0.0.0.0:" + strconv.Itoa(appPort), "-name", b.Name,
				"-size", strconv.Itoa(sc.Load.Payload), "-delay", b.Delay.String()},
			"ports": []any{map[string]any{"name": "http", "containerPort": appPort, "protocol": "TCP"}},
			// A TCP probe: Istio rewrites it to its agent, Linkerd's and
			// meshproxy's capture let it through to a listener.
			"readinessProbe":  map[string]any{"tcpSocket": map[string]any{"port": "http"}, "periodSeconds": 2},
			"resources":       map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "32Mi"}},
			"securityContext": appSecurityContext(),
		}},
	}
	if mesh == MeshMeshproxy {
		injectMeshproxy(o, pod, ns, b.Name, sc)
	}
	return Object{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": b.Name, "namespace": ns, "labels": labels(b.Name)},
		"spec": map[string]any{
			"replicas": b.Replicas,
			"selector": map[string]any{"matchLabels": map[string]any{"app": b.Name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels(b.Name), "annotations": maps.Clone(podAnnotations)},
				"spec":     pod,
			},
		},
	}
}

func appSecurityContext() map[string]any {
	return map[string]any{
		"runAsUser": appUID, "runAsGroup": appUID, "runAsNonRoot": true,
		"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
		"capabilities": map[string]any{"drop": []any{"ALL"}},
	}
}

// JobName is the name of step seq's meshload Job.
func JobName(seq int) string { return fmt.Sprintf("meshload-%03d", seq) }

// jobDeadline bounds a step's Job: warm-up, duration and slack.
func jobDeadline(o Options, sc *scenario.Scenario) time.Duration {
	return (sc.Load.Warmup + sc.Load.Duration + o.JobSlack).Round(time.Second)
}

// LoadJob is step seq's meshload run: one open-loop rate against the
// load Service, on the load node, its -json and -hgrm output on stdout
// (read back with kubectl logs).
func LoadJob(o Options, mesh string, sc *scenario.Scenario, rate float64, seq int) Object {
	ns := o.Namespace(mesh)
	l := sc.Load
	svc := loadBackend(sc)
	args := []any{"-quiet",
		"-rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"-c", strconv.Itoa(l.Connections), "-d", l.Duration.String(), "-warmup", l.Warmup.String(),
		"-timeout", l.Timeout.String(), "-json", "-", "-hgrm", "-",
		// As on loopback, aggregate.Verdict decides about failed requests
		// (load.minSuccess), not meshload's exit code: a failing Job would
		// lose the step's load.
		"-max-failure-ratio", "1"}
	if l.RequestBody > 0 {
		args = append(args, "-method", "POST", "-body-size", strconv.Itoa(l.RequestBody))
	}
	args = append(args, fmt.Sprintf("http://%s:%d%s", svc.Name, svc.Port, l.Path))
	pod := map[string]any{
		"restartPolicy":      "Never",
		"serviceAccountName": loadSA,
		"nodeSelector":       map[string]any{RoleLabel: RoleLoad},
		"containers": []any{map[string]any{
			"name":            "meshload",
			"image":           o.Images.Meshload,
			"imagePullPolicy": "Never",
			"args":            args,
			"resources":       map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "64Mi"}},
			"securityContext": appSecurityContext(),
		}},
	}
	if mesh == MeshMeshproxy {
		injectMeshproxy(o, pod, ns, loadSA, sc)
	}
	jl := map[string]any{"app": loadSA, partOf: partOfValue, stepLabel: strconv.Itoa(seq)}
	return Object{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": JobName(seq), "namespace": ns, "labels": maps.Clone(jl)},
		"spec": map[string]any{
			"backoffLimit":          0,
			"activeDeadlineSeconds": int(jobDeadline(o, sc).Seconds()),
			"template": map[string]any{
				"metadata": map[string]any{"labels": jl, "annotations": maps.Clone(podAnnotations)},
				"spec":     pod,
			},
		},
	}
}

func loadBackend(sc *scenario.Scenario) scenario.Backend {
	for _, b := range sc.Backends {
		if b.Name == sc.Load.Service {
			return b
		}
	}
	return sc.Backends[0]
}

// PathBackends are the backends the load reaches: the backendRefs of the
// HTTPRoutes whose parentRefs name the load Service (in every mesh that
// applies them), else the load Service itself. Their pods' proxies are the
// server side of each step.
func PathBackends(sc *scenario.Scenario) []string {
	set := map[string]bool{}
	for _, obj := range sc.Objects {
		if obj["kind"] != "HTTPRoute" {
			continue
		}
		spec, _ := obj["spec"].(map[string]any)
		if !refsName(spec["parentRefs"], sc.Load.Service) {
			continue
		}
		rules, _ := spec["rules"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			refs, _ := rm["backendRefs"].([]any)
			for _, ref := range refs {
				if m, ok := ref.(map[string]any); ok {
					if n, ok := m["name"].(string); ok {
						set[n] = true
					}
				}
			}
		}
	}
	if len(set) == 0 {
		return []string{sc.Load.Service}
	}
	return slices.Sorted(maps.Keys(set))
}

func refsName(v any, name string) bool {
	list, _ := v.([]any)
	for _, ref := range list {
		if m, ok := ref.(map[string]any); ok && m["name"] == name {
			return true
		}
	}
	return false
}

// Render writes objects as one multi-document YAML stream.
func Render(objs ...Object) (string, error) {
	var b bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(o); err != nil {
			return "", err
		}
		if err := enc.Close(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// mustRender is Render for objects this package built (maps of strings,
// numbers, bools and lists), which always encode.
func mustRender(objs ...Object) string {
	s, err := Render(objs...)
	if err != nil {
		panic(err)
	}
	return s
}

// servicePorts are the distinct Service ports of the backends, sorted: the
// destination ports meshproxy-init captures outbound.
func servicePorts(sc *scenario.Scenario) []int {
	set := map[int]bool{}
	for _, b := range sc.Backends {
		set[b.Port] = true
	}
	ports := slices.Collect(maps.Keys(set))
	sort.Ints(ports)
	return ports
}

// identityKey is the Secret key (and `meshbench certs` file stem) of the
// identity ns/sa.
func identityKey(ns, sa string) string { return ns + "-" + sa }

// spiffeID is the SPIFFE ID of ns/sa.
func spiffeID(ns, sa string) string {
	return "spiffe://" + trustDomain + "/ns/" + ns + "/sa/" + sa
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
