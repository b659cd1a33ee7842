// Package config loads meshproxy's configuration: one multi-document YAML
// file holding a Proxy document (meshproxy's own listeners and knobs) and
// the Kubernetes objects that describe the mesh: v1 Services, discovery/v1
// EndpointSlices and Gateway API HTTPRoutes and GRPCRoutes attached to
// Services (the GAMMA mesh pattern).
//
// Parsing is strict. Unknown fields, kinds and apiVersions are errors, and
// fields that exist in the real APIs but that meshproxy does not implement
// (filters, retry, sessionPersistence, hostnames, ...) are rejected with "not
// supported by meshproxy" rather than ignored, because a proxy that silently
// drops part of a routing policy routes traffic somewhere the operator did
// not intend. Every error names the file, line, document, object and field.
//
// The Proxy document may name identity files for mutual TLS (spec.identity);
// Parse resolves relative paths against the configuration file's directory
// but never reads the files, so it stays a pure function of its input (and
// of the working directory, for a relative file name).
//
// Parse reports all problems it finds, not just the first: the returned
// error is an errors.Join of *Error values in file order (use errors.As or
// Errors to inspect them). Only cross-object resolution (does the Service a
// route points at exist?) is left to the route package, because the Gateway
// API treats dangling references as runtime conditions, not invalid objects.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Config is a parsed and validated configuration file.
type Config struct {
	Source   string          // file name, for errors and logs
	Proxy    Proxy           // exactly one Proxy document
	Services []Service       // v1 Services
	Slices   []EndpointSlice // discovery.k8s.io/v1 EndpointSlices
	Routes   []HTTPRoute     // gateway.networking.k8s.io/v1 (or v1beta1) HTTPRoutes
	// GRPCRoutes are gateway.networking.k8s.io/v1 (or v1alpha2) GRPCRoutes.
	GRPCRoutes []GRPCRoute
}

// Load reads the file at path and parses it with Parse, using path as the
// source name in errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Summary returns a one-line description of the configuration for logs.
func (c *Config) Summary() string {
	endpoints := 0
	for _, s := range c.Slices {
		endpoints += len(s.Endpoints)
	}
	rules := 0
	for _, r := range c.Routes {
		rules += len(r.Spec.Rules)
	}
	s := fmt.Sprintf("%s: proxy %s/%s, %d services, %d endpointslices (%d endpoints), %d httproutes (%d rules)",
		c.Source, c.Proxy.Metadata.Namespace, c.Proxy.Metadata.Name,
		len(c.Services), len(c.Slices), endpoints, len(c.Routes), rules)
	if len(c.GRPCRoutes) > 0 {
		rules = 0
		for _, r := range c.GRPCRoutes {
			rules += len(r.Spec.Rules)
		}
		s += fmt.Sprintf(", %d grpcroutes (%d rules)", len(c.GRPCRoutes), rules)
	}
	return s
}

// Error is one problem in a configuration file.
type Error struct {
	File string // source name as given to Parse
	Line int    // 1-based; 0 when unknown
	Doc  int    // 1-based document index; 0 for problems with the file as a whole

	// Identity of the object, as far as it could be read.
	Kind, Namespace, Name string

	Field string // field path such as spec.rules[0].matches[1].path.type; empty for the object as a whole
	Msg   string
}

// Error formats the problem as
//
//	mesh.yaml:42: document 3 (HTTPRoute default/reviews): spec.rules[0].matches[1].path.type: unsupported value "Foo" (want ...)
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	switch {
	case e.Doc > 0 && e.Kind == "" && e.Name == "":
		fmt.Fprintf(&b, "document %d: ", e.Doc)
	case e.Doc > 0:
		fmt.Fprintf(&b, "document %d (%s): ", e.Doc, e.Object())
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Object returns "Kind namespace/name" for the object the error is in.
func (e *Error) Object() string {
	kind := e.Kind
	if kind == "" {
		kind = "object without kind"
	}
	name := e.Name
	if name == "" {
		name = "<unnamed>"
	}
	if e.Namespace == "" {
		return kind + " " + name
	}
	return kind + " " + e.Namespace + "/" + name
}

// Errors returns the individual *Error values in an error returned by Parse
// or Load (nil if err carries none).
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if u := errors.Unwrap(err); u != nil {
			walk(u)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}
