package kube

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/meshbench/meshbench/scenarios/internal/netns"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// Paths inside a meshproxy sidecar.
const (
	configDir   = "/etc/meshproxy/config"
	identityDir = "/etc/meshproxy/identity"
)

// podCapture is the capture every meshproxy pod gets, as istio-init
// installs it for every Istio pod: outbound connections to the backends'
// Service ports go to the outbound listener (only those ports, so DNS over
// TCP and the API server are never captured), incoming connections to the
// app port to the inbound listener, and the sidecar's own uid is exempt.
func podCapture(sc *scenario.Scenario) netns.CaptureOptions {
	return netns.CaptureOptions{
		OutboundProxyPort: outboundPort, OutboundPorts: servicePorts(sc), ProxyUID: proxyUID,
		InboundProxyPort: inboundPort, InboundPorts: []int{appPort},
	}
}

// injectMeshproxy adds to a pod spec what an injector would: the
// meshproxy-init container (iptables, as linkerd-init and istio-init do)
// and meshproxy as a native sidecar (an init container that keeps running)
// with its config from the meshproxy-config ConfigMap, the pod's identity
// (service account sa) from the meshproxy-identities Secret, and readiness
// on the admin listener's /ready.
func injectMeshproxy(o Options, pod map[string]any, ns, sa string, sc *scenario.Scenario) {
	rules, err := netns.CaptureRules(podCapture(sc))
	if err != nil {
		panic(err) // fixed ports, always valid
	}
	probe := func(period, failures int) map[string]any {
		return map[string]any{
			"httpGet":       map[string]any{"path": "/ready", "port": "mp-admin"},
			"periodSeconds": period, "failureThreshold": failures,
		}
	}
	pod["initContainers"] = []any{
		map[string]any{
			"name":            "meshproxy-init",
			"image":           o.Images.MeshproxyInit,
			"imagePullPolicy": "Never",
			"env":             []any{map[string]any{"name": "MESHPROXY_CAPTURE_RULES", "value": rules}},
			"securityContext": map[string]any{
				"runAsUser": 0, "runAsNonRoot": false, "allowPrivilegeEscalation": false,
				"capabilities": map[string]any{"add": []any{"NET_ADMIN", "NET_RAW"}, "drop": []any{"ALL"}},
			},
			"resources": map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "10Mi"}},
		},
		map[string]any{
			"name":            "meshproxy",
			"image":           o.Images.Meshproxy,
			"imagePullPolicy": "Never",
			"restartPolicy":   "Always",
			"args":            []any{"-config", configDir + "/config.yaml", "-log-level", "warn"},
			"ports":           []any{map[string]any{"name": "mp-admin", "containerPort": adminPort, "protocol": "TCP"}},
			// The app containers start once this passes, so the app never
			// talks to a capture with no proxy behind it.
			"startupProbe":   probe(1, 120),
			"readinessProbe": probe(2, 3),
			"resources":      map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "32Mi"}},
			"securityContext": map[string]any{
				"runAsUser": proxyUID, "runAsGroup": proxyUID, "runAsNonRoot": true,
				"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
				"capabilities": map[string]any{"drop": []any{"ALL"}},
			},
			"volumeMounts": []any{
				map[string]any{"name": "meshproxy-config", "mountPath": configDir, "readOnly": true},
				map[string]any{"name": "meshproxy-identity", "mountPath": identityDir, "readOnly": true},
			},
		},
	}
	key := identityKey(ns, sa)
	pod["volumes"] = []any{
		map[string]any{"name": "meshproxy-config", "configMap": map[string]any{"name": configMap}},
		map[string]any{"name": "meshproxy-identity", "secret": map[string]any{
			"secretName": identSecret,
			"items": []any{
				map[string]any{"key": "ca.crt", "path": "ca.crt"},
				map[string]any{"key": key + ".crt", "path": "identity.crt"},
				map[string]any{"key": key + ".key", "path": "identity.key"},
			},
		}},
	}
}

// ProxyDocument is the Proxy document every meshproxy sidecar in namespace
// ns reads: admin on every address (kubelet probes /ready, Prometheus
// scrapes /metrics), outbound on loopback (where REDIRECT delivers the
// app's connections), inbound on every address (PREROUTING REDIRECT
// delivers to the pod IP) in front of the app, and the pod's identity.
func ProxyDocument(ns string, eventLoops int) Object {
	return Object{
		"apiVersion": "meshbench.dev/v1alpha1", "kind": "Proxy",
		"metadata": map[string]any{"name": "sidecar", "namespace": ns},
		"spec": map[string]any{
			"admin":    map[string]any{"address": "0.0.0.0:" + strconv.Itoa(adminPort)},
			"outbound": map[string]any{"address": "127.0.0.1:" + strconv.Itoa(outboundPort)},
			"inbound": map[string]any{"address": "0.0.0.0:" + strconv.Itoa(inboundPort),
				"app": "127.0.0.1:" + strconv.Itoa(appPort)},
			"identity": map[string]any{
				"certFile": identityDir + "/identity.crt",
				"keyFile":  identityDir + "/identity.key",
				"caFile":   identityDir + "/ca.crt",
			},
			"eventLoops": eventLoops,
		},
	}
}

// EventLoops is the eventLoops every meshproxy sidecar gets: o.EventLoops
// when set, else that of the scenario's first sidecar-pair meshproxy
// target, else of its first meshproxy target, else 0 (one per core).
func EventLoops(o Options, sc *scenario.Scenario) int {
	if o.EventLoops >= 0 {
		return o.EventLoops
	}
	first := -1
	for _, t := range sc.Targets {
		if t.Kind != scenario.KindMeshproxy {
			continue
		}
		if t.Topology == scenario.TopoSidecarPair {
			return t.EventLoops
		}
		if first < 0 {
			first = t.EventLoops
		}
	}
	return max(first, 0)
}

// liveList is the part of `kubectl get services,endpointslices -o json`
// that meshproxy's config is made from.
type liveList struct {
	Items []struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			ClusterIP string `json:"clusterIP"`
			Ports     []struct {
				Name     string `json:"name"`
				Port     int    `json:"port"`
				Protocol string `json:"protocol"`
			} `json:"ports"`
		} `json:"spec"`
		AddressType string `json:"addressType"`
		Endpoints   []struct {
			Addresses  []string `json:"addresses"`
			Conditions struct {
				Ready *bool `json:"ready"`
			} `json:"conditions"`
		} `json:"endpoints"`
		Ports []struct {
			Name     *string `json:"name"`
			Port     *int    `json:"port"`
			Protocol *string `json:"protocol"`
		} `json:"ports"`
	} `json:"items"`
}

// MeshproxyConfig is the config file of the meshproxy sidecars in
// namespace ns: the Proxy document, then each Service of the namespace
// with the cluster IP the cluster gave it (annotated with the SPIFFE ID of
// its pods' service account, which a client sidecar then requires), the
// ready endpoints of its EndpointSlices, and the scenario's HTTPRoutes, as
// placed in ns. live is `kubectl get services,endpointslices -n NS -o
// json`; nil gives the config without Services (what -dry-run shows).
// ready counts the ready endpoint addresses per Service.
func MeshproxyConfig(ns string, sc *scenario.Scenario, eventLoops int, live []byte) (config string, ready map[string]int, err error) {
	objs := []Object{ProxyDocument(ns, eventLoops)}
	ready = map[string]int{}
	if live != nil {
		var l liveList
		if err := json.Unmarshal(live, &l); err != nil {
			return "", nil, fmt.Errorf("kubectl get services,endpointslices: %w", err)
		}
		backends := map[string]bool{}
		for _, b := range sc.Backends {
			backends[b.Name] = true
		}
		services := map[string]bool{}
		for _, it := range l.Items {
			if it.Kind != "Service" || it.Spec.ClusterIP == "" || it.Spec.ClusterIP == "None" {
				continue
			}
			meta := map[string]any{"name": it.Metadata.Name, "namespace": ns}
			if backends[it.Metadata.Name] {
				meta["annotations"] = map[string]any{"meshbench.dev/identity": spiffeID(ns, it.Metadata.Name)}
			}
			var ports []any
			for _, p := range it.Spec.Ports {
				port := map[string]any{"port": p.Port}
				if p.Name != "" {
					port["name"] = p.Name
				}
				if p.Protocol != "" {
					port["protocol"] = p.Protocol
				}
				ports = append(ports, port)
			}
			objs = append(objs, Object{"apiVersion": "v1", "kind": "Service", "metadata": meta,
				"spec": map[string]any{"clusterIP": it.Spec.ClusterIP, "ports": ports}})
			services[it.Metadata.Name] = true
			ready[it.Metadata.Name] += 0
		}
		for _, it := range l.Items {
			svc := it.Metadata.Labels["kubernetes.io/service-name"]
			if it.Kind != "EndpointSlice" || !services[svc] || it.AddressType != "IPv4" {
				continue
			}
			var eps []any
			for _, e := range it.Endpoints {
				if e.Conditions.Ready != nil && !*e.Conditions.Ready {
					continue
				}
				eps = append(eps, map[string]any{"addresses": toAny(e.Addresses), "conditions": map[string]any{"ready": true}})
				ready[svc] += len(e.Addresses)
			}
			if len(eps) == 0 {
				continue
			}
			var ports []any
			for _, p := range it.Ports {
				port := map[string]any{}
				if p.Name != nil {
					port["name"] = *p.Name
				}
				if p.Port != nil {
					port["port"] = *p.Port
				}
				if p.Protocol != nil {
					port["protocol"] = *p.Protocol
				}
				ports = append(ports, port)
			}
			objs = append(objs, Object{
				"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
				"metadata": map[string]any{"name": it.Metadata.Name, "namespace": ns,
					"labels": map[string]any{"kubernetes.io/service-name": svc}},
				"addressType": "IPv4", "endpoints": eps, "ports": ports,
			})
		}
	}
	for _, obj := range ScenarioObjects(ns, sc, nil) {
		if obj["kind"] == "HTTPRoute" {
			objs = append(objs, obj)
		}
	}
	s, err := Render(objs...)
	return s, ready, err
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// ConfigMapObject wraps meshproxy's config file for namespace ns.
func ConfigMapObject(ns, config string) Object {
	return Object{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": configMap, "namespace": ns, "labels": map[string]any{partOf: partOfValue}},
		"data":     map[string]any{"config.yaml": config},
	}
}

// identities are the `meshbench certs` identities of namespace ns: the
// load generator's and every backend's service account.
func identities(ns string, sc *scenario.Scenario) []string {
	var ids []string
	for _, sa := range serviceAccounts(sc) {
		ids = append(ids, ns+"/"+sa)
	}
	return ids
}

// secretArgs is the kubectl command that stores the CA certificate and the
// namespace's identities (not the CA key) as the meshproxy-identities
// Secret; certs is the `meshbench certs -out` directory.
func secretArgs(ns, certs string, sc *scenario.Scenario) []string {
	args := []string{"create", "secret", "generic", identSecret, "-n", ns, "--from-file=ca.crt=" + certs + "/ca.crt"}
	sas := serviceAccounts(sc)
	slices.Sort(sas)
	for _, sa := range sas {
		k := identityKey(ns, sa)
		args = append(args, "--from-file="+certs+"/"+k+".crt", "--from-file="+certs+"/"+k+".key")
	}
	return args
}
