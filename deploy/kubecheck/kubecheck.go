// Package kubecheck decodes Kubernetes manifests strictly into the real API
// types (k8s.io/api, Gateway API, kind's cluster config): an unknown field,
// a duplicate key, a value of the wrong type, or an apiVersion/kind this
// project does not write is an error naming the document. The tests of
// deploy/, scripts/kind and scenarios/internal/kube run every manifest they
// own or generate through it; nothing in a binary imports it.
package kubecheck

import (
	"bytes"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// types maps "apiVersion kind" to a new value of its Go type.
var types = map[string]func() any{
	"v1 Namespace":                      func() any { return &corev1.Namespace{} },
	"v1 ServiceAccount":                 func() any { return &corev1.ServiceAccount{} },
	"v1 Service":                        func() any { return &corev1.Service{} },
	"v1 ConfigMap":                      func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                         func() any { return &corev1.Secret{} },
	"apps/v1 Deployment":                func() any { return &appsv1.Deployment{} },
	"batch/v1 Job":                      func() any { return &batchv1.Job{} },
	"discovery.k8s.io/v1 EndpointSlice": func() any { return &discoveryv1.EndpointSlice{} },
	"rbac.authorization.k8s.io/v1 ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1 ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	"gateway.networking.k8s.io/v1 HTTPRoute":          func() any { return &gatewayv1.HTTPRoute{} },
	"gateway.networking.k8s.io/v1 Gateway":            func() any { return &gatewayv1.Gateway{} },
	"kind.x-k8s.io/v1alpha4 Cluster":                  func() any { return &kindv1alpha4.Cluster{} },
}

// Doc is one decoded document.
type Doc struct {
	APIVersion, Kind, Name string
	Value                  any // pointer to the typed object
}

// Decode decodes one YAML document strictly into its type.
func Decode(doc []byte) (Doc, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Name string `json:"name"` // kind's Cluster has a top-level name
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return Doc{}, err
	}
	d := Doc{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name}
	if d.Name == "" {
		d.Name = head.Name
	}
	mk, ok := types[head.APIVersion+" "+head.Kind]
	if !ok {
		return d, fmt.Errorf("%s %s %q: not a type this project writes", head.APIVersion, head.Kind, d.Name)
	}
	d.Value = mk()
	if err := yaml.UnmarshalStrict(doc, d.Value); err != nil {
		return d, fmt.Errorf("%s %s %q: %w", head.APIVersion, head.Kind, d.Name, err)
	}
	if head.Kind != "Cluster" && d.Name == "" {
		return d, fmt.Errorf("%s %s: no metadata.name", head.APIVersion, head.Kind)
	}
	return d, nil
}

// DecodeAll splits a multi-document stream on lines that are exactly
// "---" and decodes each non-empty document; errors name its index.
func DecodeAll(stream []byte) ([]Doc, error) {
	var docs []Doc
	for i, part := range Split(stream) {
		d, err := Decode(part)
		if err != nil {
			return docs, fmt.Errorf("document %d: %w", i+1, err)
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// Split returns the non-empty documents of a stream (comments alone count
// as empty).
func Split(stream []byte) [][]byte {
	var out [][]byte
	var cur bytes.Buffer
	flush := func() {
		content := false
		for _, l := range strings.Split(cur.String(), "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
				content = true
			}
		}
		if content {
			out = append(out, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(stream), "\n") {
		if strings.TrimRight(line, "\r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return out
}
