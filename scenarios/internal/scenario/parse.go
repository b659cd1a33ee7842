package scenario

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxErrors bounds how many problems one Parse reports.
const maxErrors = 50

// maxNodes bounds the YAML nodes one file may expand to (aliases are
// followed, so a small file could otherwise expand exponentially).
const maxNodes = 100000

// maxDepth bounds nesting.
const maxDepth = 64

// Error is one problem in a scenario file. It formats as
//
//	scenarios/x.yaml:12: targets[2].topology "pair": want client-sidecar, server-sidecar or sidecar-pair
type Error struct {
	File  string // the name given to Parse
	Line  int    // 1-based; 0 when the problem has no single line (a missing field)
	Field string // path such as load.rates[1] or targets[2].split[echo-v1]; "" for the file as a whole
	Value string // the offending value as written (strings quoted), "" when none
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		if e.Value != "" {
			b.WriteString(" ")
			b.WriteString(e.Value)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns the *Error values in an error returned by Parse, Load or
// an Entry (nil when err carries none, e.g. a file that could not be read).
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

// Parse decodes one scenario file strictly, applies defaults and validates
// it; name is the file name used in errors (and stored in Scenario.File).
//
// It either returns a complete, valid Scenario, or nil and an error that
// joins (errors.Join) one *Error per problem found, in file order (problems
// without a line last), at most 50. Decoding problems (YAML syntax, unknown
// fields, duplicate keys, wrong types); when there are any, defaults and
// validation are skipped, so every reported problem is real.
func Parse(data []byte, name string) (*Scenario, error) {
	s, _, err := parse(data, name)
	return s, err
}

// parse is Parse, also returning the decoder (for its field lines).
func parse(data []byte, name string) (*Scenario, *decoder, error) {
	d := &decoder{file: name, lines: map[string]int{}, set: map[string]bool{}}
	root, err := d.document(data)
	if err != nil {
		return nil, d, err
	}
	s := &Scenario{File: name}
	d.decodeStruct(root, "", reflect.ValueOf(s).Elem(), 0)
	if len(d.errs) == 0 {
		d.defaults(s)
		d.validate(s)
	}
	if len(d.errs) > 0 {
		return nil, d, d.joined()
	}
	return s, d, nil
}

// Load reads the file at path and parses it with Parse, naming it path in
// errors.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return Parse(data, path)
}

// Entry is one scenario file found by List: Scenario is nil when Err is not.
type Entry struct {
	Path     string
	Scenario *Scenario
	Err      error
}

// List returns the scenario files (*.yaml) directly in dir, sorted by
// name, each loaded with Load. A file that fails is returned with its error,
// not dropped; so is a file whose scenario name an earlier file already
// uses (results are stored by scenario name). The error is for dir itself.
func List(dir string) ([]Entry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	var out []Entry
	names := map[string]string{}
	for _, de := range ents {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".yaml") {
			continue
		}
		e := Entry{Path: filepath.Join(dir, de.Name())}
		data, err := os.ReadFile(e.Path)
		if err != nil {
			e.Err = fmt.Errorf("scenario: %w", err)
			out = append(out, e)
			continue
		}
		var d *decoder
		e.Scenario, d, e.Err = parse(data, e.Path)
		if e.Err == nil {
			if first, dup := names[e.Scenario.Name]; dup {
				e.Err = &Error{File: e.Path, Line: d.lines["name"], Field: "name", Value: strconv.Quote(e.Scenario.Name),
					Msg: "also the name of " + first + " (scenario names must be unique: results are stored by name)"}
				e.Scenario = nil
			} else {
				names[e.Scenario.Name] = e.Path
			}
		}
		out = append(out, e)
	}
	return out, nil // os.ReadDir sorts by file name
}

// decoder carries the state of one Parse.
type decoder struct {
	file    string
	errs    []*Error
	lines   map[string]int  // field path -> line of its key (or sequence item)
	set     map[string]bool // field paths given a non-null value in the file
	nodes   int
	stopped bool // the node budget ran out
}

func (d *decoder) errorAt(line int, field, value, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: field, Value: value, Msg: fmt.Sprintf(format, args...)})
}

// errorf records a problem at field, located at the field's line or, for
// a field not in the file, its nearest ancestor's.
func (d *decoder) errorf(field, value, format string, args ...any) {
	d.errorAt(d.lineOf(field), field, value, format, args...)
}

// lineOf returns the line of field, or of its nearest ancestor in the file,
// or 0.
func (d *decoder) lineOf(field string) int {
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
	return 0
}

func (d *decoder) joined() error {
	slices.SortStableFunc(d.errs, func(a, b *Error) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = math.MaxInt
		}
		if lb == 0 {
			lb = math.MaxInt
		}
		return cmp.Compare(la, lb)
	})
	errs := make([]error, 0, len(d.errs)+1)
	for i, e := range d.errs {
		if i == maxErrors {
			errs = append(errs, &Error{File: d.file, Msg: fmt.Sprintf("too many errors (stopped after %d)", maxErrors)})
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

var syntaxLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data as exactly one YAML document and returns its root
// node (nil for a document holding only null, which then fails the
// required-field checks).
func (d *decoder) document(data []byte) (*yaml.Node, error) {
	fail := func(err *Error) (*yaml.Node, error) { return nil, errors.Join(err) }
	syntax := func(err error) (*yaml.Node, error) {
		e := &Error{File: d.file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := syntaxLineRE.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = "invalid YAML: " + m[2]
		}
		return fail(e)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err == io.EOF {
		return fail(&Error{File: d.file, Msg: "empty file (want a scenario: name, load.rates, targets, ...)"})
	} else if err != nil {
		return syntax(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		return syntax(err)
	default:
		return fail(&Error{File: d.file, Line: next.Line, Msg: "a second YAML document (a scenario file holds exactly one; remove the '---')"})
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = resolve(root)
	if isNull(root) {
		return fail(&Error{File: d.file, Line: root.Line, Msg: "empty document (want a scenario: name, load.rates, targets, ...)"})
	}
	if root.Kind != yaml.MappingNode {
		return fail(&Error{File: d.file, Line: root.Line, Msg: "want a mapping (name, load, backends, targets, ...), got " + describe(root)})
	}
	return root, nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names what a node is, for "got ..." messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return "the string " + strconv.Quote(n.Value)
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		case "!!null":
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

// written returns a scalar as the file wrote it, for Error.Value: strings
// quoted, other scalars bare.
func written(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return ""
	}
	if n.Tag == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// child forms the path of a mapping key: path.key, or path[key] when the
// key is not a plain identifier (label keys like kubernetes.io/name).
func child(path, key string) string {
	plain := key != ""
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + key + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

// isDigits reports whether s is an optionally signed decimal number.
func isDigits(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return s != "" && strings.Trim(s, "0123456789_") == ""
}

func item(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// enter counts a node against the budget and reports whether to go on.
func (d *decoder) enter(path string, depth int) bool {
	if d.stopped {
		return false
	}
	d.nodes++
	if d.nodes > maxNodes || depth > maxDepth {
		d.stopped = true
		d.errorf(path, "", "too deeply nested or too large (more than %d levels or %d nodes, counting aliases as expanded)", maxDepth, maxNodes)
		return false
	}
	return true
}

// mapping iterates over the keys of a mapping node, reporting merge keys,
// non-scalar and duplicate keys, and records each key's line. fn gets the
// key, its path and the value node.
func (d *decoder) mapping(n *yaml.Node, path string, pathOf func(string) string, fn func(key, p string, v *yaml.Node)) {
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.errorAt(k.Line, path, "", "keys must be strings, got %s", describe(k))
			continue
		case k.Tag == "!!merge":
			d.errorAt(k.Line, path, "", "merge keys (<<) are not supported; write the fields out")
			continue
		}
		p := pathOf(k.Value)
		if l, dup := first[k.Value]; dup {
			d.errorAt(k.Line, p, "", "duplicate key (first at line %d)", l)
			continue
		}
		first[k.Value] = k.Line
		d.lines[p] = k.Line
		if !isNull(resolve(v)) {
			d.set[p] = true
		}
		fn(k.Value, p, v)
	}
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	percentType   = reflect.TypeFor[Percent]()
	protocolsType = reflect.TypeFor[Protocols]()
)

// percentRE is the one way to write a percentage: digits, an optional
// fraction, the % sign; no sign, exponent or space.
var percentRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?%$`)

// fieldNames returns the yaml names of a struct type's fields in order.
func fieldNames(t reflect.Type) (names []string, index map[string]int) {
	index = map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
		index[name] = i
	}
	return names, index
}

// decodeStruct decodes a mapping into the struct v, rejecting unknown keys.
func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value, depth int) {
	names, index := fieldNames(v.Type())
	d.mapping(n, path, func(k string) string { return child(path, k) }, func(key, p string, val *yaml.Node) {
		i, ok := index[key]
		if !ok {
			where := "here"
			if path != "" {
				where = "in " + path
			}
			d.errorAt(d.lines[p], p, "", "unknown field (%s: %s)", where, strings.Join(names, ", "))
			return
		}
		d.decodeValue(val, p, v.Field(i), depth+1)
	})
}

// decodeValue decodes n into v, whose type is one used by Scenario.
func (d *decoder) decodeValue(n *yaml.Node, path string, v reflect.Value, depth int) {
	if !d.enter(path, depth) {
		return
	}
	n = resolve(n)
	if isNull(n) {
		return // null is "not set": the default applies
	}
	line := d.lineOf(path)
	wrong := func(want string) {
		if n.Kind == yaml.ScalarNode {
			d.errorAt(n.Line, path, written(n), "want %s", want)
		} else {
			d.errorAt(line, path, "", "want %s, got %s", want, describe(n))
		}
	}
	t := v.Type()
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			wrong(`a Go duration such as "10s" or "500ms"`)
			return
		}
		dur, err := time.ParseDuration(n.Value)
		_, numErr := strconv.ParseFloat(n.Value, 64)
		switch {
		case err != nil && numErr == nil:
			wrong(`a Go duration with a unit, such as "10s" or "500ms" (a bare number has none)`)
		case err != nil:
			wrong(`a Go duration such as "10s", "500ms" or "1m30s"`)
		default:
			v.SetInt(int64(dur))
		}
	case t == percentType:
		d.decodePercent(n, v, wrong)
	case t == protocolsType && n.Kind == yaml.ScalarNode:
		// One protocol, written as a string; a list decodes as a slice.
		if n.Tag != "!!str" {
			wrong("a protocol (a string) or a list of them")
			return
		}
		v.Set(reflect.ValueOf(Protocols{n.Value}))
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			wrong("a string")
			return
		}
		v.SetString(n.Value)
	case t.Kind() == reflect.Int:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil && !isDigits(n.Value) {
			wrong("an integer")
			return
		}
		if n.Decode(&i) != nil || i < math.MinInt32 || i > math.MaxInt32 {
			d.errorAt(n.Line, path, written(n), "out of range")
			return
		}
		v.SetInt(i)
	case t.Kind() == reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
			wrong("a number")
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			wrong("a finite number")
			return
		}
		v.SetFloat(f)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			wrong("a list")
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			p := item(path, i)
			d.lines[p] = c.Line
			d.set[p] = true
			d.decodeValue(c, p, s.Index(i), depth+1)
		}
		v.Set(s)
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Interface:
		// A Kubernetes object, passed through.
		if n.Kind != yaml.MappingNode {
			wrong("a mapping (a Kubernetes object)")
			return
		}
		if a, ok := d.anyValue(n, path, depth).(map[string]any); ok {
			v.Set(reflect.ValueOf(a))
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			wrong("a mapping")
			return
		}
		m := reflect.MakeMap(t)
		d.mapping(n, path, func(k string) string { return path + "[" + k + "]" }, func(key, p string, val *yaml.Node) {
			e := reflect.New(t.Elem()).Elem()
			d.decodeValue(val, p, e, depth+1)
			m.SetMapIndex(reflect.ValueOf(key), e)
		})
		v.Set(m)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			wrong("a mapping")
			return
		}
		d.decodeStruct(n, path, v, depth)
	default:
		panic("scenario: no decoder for " + t.String())
	}
}

// decodePercent decodes "99.9%" into a Percent (its range is checked by
// validate). A bare number is refused: 0.999 and 99.9 would both be
// plausible, and a wrong guess silently changes what fails.
func (d *decoder) decodePercent(n *yaml.Node, v reflect.Value, wrong func(string)) {
	const want = "a percentage with the % sign, such as 99.9%"
	switch {
	case n.Kind != yaml.ScalarNode:
		wrong(want)
	case n.Tag == "!!int" || n.Tag == "!!float":
		wrong(want + " (a bare number could be a ratio or a percent)")
	case strings.HasSuffix(n.Value, " %") && percentRE.MatchString(strings.TrimSuffix(n.Value, " %")+"%"):
		wrong(want + ", without a space before the %")
	case n.Tag != "!!str" || !percentRE.MatchString(n.Value):
		wrong(want)
	default:
		f, err := strconv.ParseFloat(strings.TrimSuffix(n.Value, "%"), 64)
		if err != nil || math.IsInf(f, 0) {
			wrong(want)
			return
		}
		v.SetFloat(f)
	}
}

// anyValue converts a node of a Kubernetes object into JSON-compatible Go
// values: map[string]any, []any, string, bool, int64, float64 or nil.
// Timestamps and other tagged scalars stay strings, as Kubernetes (which
// reads YAML through JSON) keeps them.
func (d *decoder) anyValue(n *yaml.Node, path string, depth int) any {
	if !d.enter(path, depth) {
		return nil
	}
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		d.mapping(n, path, func(k string) string { return child(path, k) }, func(key, p string, v *yaml.Node) {
			m[key] = d.anyValue(v, p, depth+1)
		})
		return m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			p := item(path, i)
			d.lines[p] = c.Line
			s[i] = d.anyValue(c, p, depth+1)
		}
		return s
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i
			}
			var f float64 // beyond int64: keep the magnitude, as JSON would
			if n.Decode(&f) == nil {
				return f
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				if math.IsNaN(f) || math.IsInf(f, 0) {
					d.errorAt(n.Line, path, n.Value, "not representable in JSON (Kubernetes objects are JSON)")
					return nil
				}
				return f
			}
		}
		return n.Value
	}
	return nil
}
