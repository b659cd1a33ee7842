package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxErrors bounds how many problems one Parse reports; past it the file is
// clearly not the intended one and more lines only bury the first.
const maxErrors = 50

// Parse decodes and validates the multi-document YAML in data; name is the
// source used in errors. It either returns a complete, valid Config and a
// nil error, or a nil Config and an error listing every problem found (see
// the package doc).
//
// Decoding happens in two passes over data. The first builds yaml.Nodes to
// learn each document's kind and to map field paths to line numbers; the
// second decodes the same stream, document by document in lockstep, with a
// yaml.v3 Decoder in KnownFields mode into the Go type the first pass chose,
// so unknown fields are caught by yaml.v3 itself and line numbers are the
// file's own.
func Parse(name string, data []byte) (*Config, error) {
	p := &parser{file: name, seen: make(map[string]int)}
	docs, err := p.scan(data)
	if err != nil {
		return nil, err
	}
	cfg := &Config{Source: name}
	proxies := 0

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	for _, d := range docs {
		if len(p.errs) >= maxErrors {
			break
		}
		if d.empty {
			var skip yaml.Node
			if err := dec.Decode(&skip); err != nil {
				return nil, p.syntaxError(err, d.index)
			}
			continue
		}
		target, ok := p.target(d)
		if !ok {
			var skip yaml.Node
			if err := dec.Decode(&skip); err != nil {
				return nil, p.syntaxError(err, d.index)
			}
			continue
		}
		if _, ok := target.(*Proxy); ok {
			if proxies++; proxies == 1 {
				p.firstProxy = d.index
			}
		}
		if err := dec.Decode(target); err != nil && !p.decodeError(d, err) {
			continue
		}
		switch obj := target.(type) {
		case *Proxy:
			if proxies > 1 {
				p.errorf(d, "kind", "more than one Proxy document (first is document %d); a file configures exactly one proxy", p.firstProxy)
				continue
			}
			p.validateProxy(d, obj)
			cfg.Proxy = *obj
		case *Service:
			p.validateService(d, obj)
			cfg.Services = append(cfg.Services, *obj)
		case *EndpointSlice:
			p.validateEndpointSlice(d, obj)
			cfg.Slices = append(cfg.Slices, *obj)
		case *HTTPRoute:
			p.validateHTTPRoute(d, obj)
			cfg.Routes = append(cfg.Routes, *obj)
		case *GRPCRoute:
			p.validateGRPCRoute(d, obj)
			cfg.GRPCRoutes = append(cfg.GRPCRoutes, *obj)
		}
	}
	if proxies == 0 && len(p.errs) < maxErrors {
		p.errs = append(p.errs, p.fileError(0, fmt.Sprintf("no Proxy document (apiVersion %s, kind Proxy): a file configures exactly one proxy", APIVersionProxy)))
	}
	if len(p.errs) > 0 {
		// File order: by document, then line; whole-file problems last.
		slices.SortStableFunc(p.errs, func(a, b error) int {
			ea, eb := a.(*Error), b.(*Error)
			da, db := ea.Doc, eb.Doc
			if da == 0 {
				da = math.MaxInt
			}
			if db == 0 {
				db = math.MaxInt
			}
			if da != db {
				return cmp.Compare(da, db)
			}
			return cmp.Compare(ea.Line, eb.Line)
		})
		errs := p.errs
		if len(errs) >= maxErrors {
			errs = append(errs, p.fileError(0, fmt.Sprintf("too many errors (stopped after %d)", maxErrors)))
		}
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// parser carries the state of one Parse.
type parser struct {
	file       string
	errs       []error        // all *Error
	seen       map[string]int // "Kind/ns/name" -> document index, for duplicates
	firstProxy int
}

// doc is what the first pass learned about one document.
type doc struct {
	index           int // 1-based
	line            int // line of the document's content
	empty           bool
	apiVersion      string
	kind            string
	namespace, name string

	lines  map[string]int   // field path -> line of its key
	byLine map[int][]keyPos // line -> keys on it, in order
}

type keyPos struct {
	path  string
	key   string
	value string // the value's text when it is a scalar
}

// scan is the first pass: it parses every document into a yaml.Node. A
// YAML syntax error stops everything (nothing after it can be trusted).
func (p *parser) scan(data []byte) ([]*doc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*doc
	for i := 1; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, p.syntaxError(err, i)
		}
		d := &doc{index: i, line: n.Line, lines: make(map[string]int), byLine: make(map[int][]keyPos)}
		root := &n
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		d.line = root.Line
		switch {
		case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
			d.empty = true // "---" with nothing (or only comments) after it
		case root.Kind != yaml.MappingNode:
			d.empty = true
			p.errs = append(p.errs, &Error{File: p.file, Line: root.Line, Doc: i, Msg: "document is not a mapping (want an object with apiVersion, kind, metadata)"})
		default:
			d.apiVersion = scalarAt(root, "apiVersion")
			d.kind = scalarAt(root, "kind")
			if md := valueAt(root, "metadata"); md != nil {
				d.name = scalarAt(md, "name")
				d.namespace = scalarAt(md, "namespace")
			}
			if d.namespace == "" {
				d.namespace = DefaultNamespace
			}
			d.walk(root, "", 0)
		}
		docs = append(docs, d)
	}
}

var syntaxLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 syntax error ("yaml: line 4: mapping values
// are not allowed in this context") into an *Error with the line set.
func (p *parser) syntaxError(err error, docIndex int) *Error {
	line, msg := 0, strings.TrimPrefix(err.Error(), "yaml: ")
	if m := syntaxLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return &Error{File: p.file, Line: line, Msg: fmt.Sprintf("invalid YAML in document %d: %s", docIndex, msg)}
}

// mapFields are the fields whose keys are data (label keys, ...), so their
// paths use the Kubernetes field.Path form labels[key] rather than labels.key.
var mapFields = map[string]bool{"labels": true, "annotations": true, "selector": true}

// walk records the path and line of every mapping key and sequence item.
func (d *doc) walk(n *yaml.Node, path string, depth int) {
	if depth > 64 {
		return
	}
	switch n.Kind {
	// Aliases are not followed: expanding them is exponential in the worst
	// case ("billion laughs"), and a field reached through one simply gets
	// the line of its nearest recorded ancestor.
	case yaml.MappingNode:
		isMap := mapFields[lastSegment(path)]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				d.walk(v, path, depth+1)
				continue
			}
			var p string
			switch {
			case isMap:
				p = path + "[" + k.Value + "]"
			case path == "":
				p = k.Value
			default:
				p = path + "." + k.Value
			}
			d.record(p, k.Line, k.Value, v)
			d.walk(v, p, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			d.record(p, c.Line, "", c)
			d.walk(c, p, depth+1)
		}
	}
}

func (d *doc) record(path string, line int, key string, v *yaml.Node) {
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = line
	}
	kp := keyPos{path: path, key: key}
	if v.Kind == yaml.ScalarNode {
		kp.value = v.Value
	}
	d.byLine[line] = append(d.byLine[line], kp)
}

func lastSegment(path string) string {
	if i := strings.LastIndexAny(path, ".]"); i >= 0 {
		return path[i+1:]
	}
	return path
}

// lineOf returns the line of field, or of its closest ancestor that appears
// in the file (a defaulted field has no line of its own).
func (d *doc) lineOf(field string) int {
	for field != "" {
		if l, ok := d.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return d.line
}

// fieldAt guesses the field a yaml.v3 error at line refers to: the key named
// key, or the one field whose scalar value is value, if given and present;
// else the only key on the line; else the common parent of the candidates
// (flow mappings put several keys on one line, and an imprecise path is
// better than a wrong one).
func (d *doc) fieldAt(line int, key, value string) string {
	keys := d.byLine[line]
	var hits []keyPos
	for _, k := range keys {
		if key != "" && k.key == key || key == "" && value != "" && k.value == value {
			hits = append(hits, k)
		}
	}
	if len(hits) == 1 {
		return hits[0].path
	}
	if len(hits) > 1 {
		keys = hits
	}
	if len(keys) == 0 {
		return ""
	}
	common := keys[0].path
	for _, k := range keys[1:] {
		for !strings.HasPrefix(k.path, common) {
			i := strings.LastIndexAny(common, ".[")
			if i < 0 {
				return ""
			}
			common = common[:i]
		}
	}
	return common
}

func valueAt(m *yaml.Node, key string) *yaml.Node {
	for m != nil && m.Kind == yaml.AliasNode {
		m = m.Alias
	}
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarAt(m *yaml.Node, key string) string {
	v := valueAt(m, key)
	if v == nil || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return ""
	}
	return v.Value
}

// kinds maps each supported kind to its accepted apiVersions.
var kinds = map[string][]string{
	KindProxy:         {APIVersionProxy},
	KindService:       {APIVersionService},
	KindEndpointSlice: {APIVersionEndpointSlice},
	KindHTTPRoute:     {APIVersionHTTPRoute, APIVersionHTTPRouteBeta},
	KindGRPCRoute:     {APIVersionGRPCRoute, APIVersionGRPCRouteAlpha},
}

const supportedKinds = "Proxy (" + APIVersionProxy + "), Service (" + APIVersionService + "), EndpointSlice (" +
	APIVersionEndpointSlice + "), HTTPRoute (" + APIVersionHTTPRoute + ") or GRPCRoute (" + APIVersionGRPCRoute + ")"

// target returns a pointer to a fresh object of the document's kind, with
// defaults applied, or reports why the document cannot be decoded.
func (p *parser) target(d *doc) (any, bool) {
	switch {
	case d.kind == "":
		p.errorf(d, "kind", "missing kind (want %s)", supportedKinds)
		return nil, false
	case d.apiVersion == "":
		p.errorf(d, "apiVersion", "missing apiVersion")
		return nil, false
	}
	versions, ok := kinds[d.kind]
	if !ok {
		p.errorf(d, "kind", "unsupported kind %q (apiVersion %q): meshproxy reads %s", d.kind, d.apiVersion, supportedKinds)
		return nil, false
	}
	if !slices.Contains(versions, d.apiVersion) {
		p.errorf(d, "apiVersion", "unsupported apiVersion %q for kind %s (want %s)", d.apiVersion, d.kind, strings.Join(versions, " or "))
		return nil, false
	}
	switch d.kind {
	case KindProxy:
		return &Proxy{Spec: DefaultProxySpec()}, true
	case KindService:
		return &Service{}, true
	case KindEndpointSlice:
		return &EndpointSlice{}, true
	case KindGRPCRoute:
		return &GRPCRoute{}, true
	default:
		return &HTTPRoute{}, true
	}
}

var (
	unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.+) not found in type \S+$`)
	typeErrorRE    = regexp.MustCompile(`^line (\d+): (.*)$`)
	badValueRE     = regexp.MustCompile("cannot unmarshal \\S+ `([^`]*)`")
	goTypeRE       = regexp.MustCompile(`into (\[\])?(\*)?(config\.)?([A-Za-z0-9.]+)$`)
)

// decodeError turns the second pass's yaml.v3 errors into *Errors with
// field paths. It reports whether the decoded object is still complete
// enough to validate: it is when every error is an unknown field (yaml.v3
// decodes everything else), not when a value failed to decode.
func (p *parser) decodeError(d *doc, err error) (complete bool) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		p.errs = append(p.errs, p.docError(d, "", d.line, err.Error()))
		return false
	}
	complete = true
	for _, msg := range te.Errors {
		if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			p.errs = append(p.errs, p.docError(d, d.fieldAt(line, m[2], ""), line, fmt.Sprintf("unknown field %q", m[2])))
			continue
		}
		complete = false
		if m := typeErrorRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			value := ""
			if v := badValueRE.FindStringSubmatch(m[2]); v != nil {
				value = v[1]
			}
			p.errs = append(p.errs, p.docError(d, d.fieldAt(line, "", value), line, humanizeType(m[2])))
			continue
		}
		p.errs = append(p.errs, p.docError(d, "", d.line, msg))
	}
	return complete
}

// humanizeType replaces Go type names at the end of a yaml.v3 "cannot
// unmarshal X into T" message with what the user should write.
func humanizeType(msg string) string {
	m := goTypeRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	var want string
	switch t := m[4]; {
	case m[1] != "":
		want = "a list"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		want = "an integer"
	case t == "bool":
		want = "true or false"
	case t == "string" || t == "Duration":
		want = "a string"
	case t == "time.Duration":
		want = `a Go duration such as "10s"`
	case strings.HasPrefix(t, "map"):
		want = "a mapping"
	default:
		want = "an object"
	}
	return msg[:len(msg)-len(m[0])] + "(want " + want + ")"
}

// errorf records a validation problem at field of document d.
func (p *parser) errorf(d *doc, field, format string, args ...any) {
	p.errs = append(p.errs, p.docError(d, field, d.lineOf(field), fmt.Sprintf(format, args...)))
}

func (p *parser) docError(d *doc, field string, line int, msg string) *Error {
	return &Error{File: p.file, Line: line, Doc: d.index, Kind: d.kind, Namespace: d.namespace, Name: d.name, Field: field, Msg: msg}
}

func (p *parser) fileError(line int, msg string) *Error {
	return &Error{File: p.file, Line: line, Msg: msg}
}

// validateMeta checks metadata common to all kinds, applies the namespace
// default, parses creationTimestamp and detects duplicates. nameCheck is the
// name syntax of the kind.
func (p *parser) validateMeta(d *doc, m *ObjectMeta, nameCheck func(string) string) {
	if m.Namespace == "" {
		m.Namespace = DefaultNamespace
	} else if msg := dns1123Label(m.Namespace); msg != "" {
		p.errorf(d, "metadata.namespace", "invalid namespace %q: %s", m.Namespace, msg)
	}
	if m.Name == "" {
		p.errorf(d, "metadata.name", "required")
	} else if msg := nameCheck(m.Name); msg != "" {
		p.errorf(d, "metadata.name", "invalid name %q: %s", m.Name, msg)
	}
	if m.CreationTimestamp != "" {
		t, err := time.Parse(time.RFC3339, m.CreationTimestamp)
		if err != nil {
			p.errorf(d, "metadata.creationTimestamp", "invalid timestamp %q (want RFC 3339, e.g. 2024-05-01T12:00:00Z)", m.CreationTimestamp)
		}
		m.Created = t
	}
	if m.Name != "" {
		key := d.kind + "/" + m.Namespace + "/" + m.Name
		if first, dup := p.seen[key]; dup {
			p.errorf(d, "metadata.name", "duplicate %s %s/%s (first defined in document %d)", d.kind, m.Namespace, m.Name, first)
		} else {
			p.seen[key] = d.index
		}
	}
}
