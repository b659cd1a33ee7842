// Package expect is the set of HTTP statuses a meshload run counts as
// success (its -expect flag). A response whose status is not in the set is
// a failure, kept apart from successes, never averaged into their latency.
package expect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Statuses are 100..599: the classes RFC 9110 defines. A code outside that
// range (a 3-digit status such as 799 that a server may still send) is
// never expected.
const (
	lowest  = 100
	highest = 599
)

// Default is the -expect spec when none is given: every 2xx.
const Default = "2xx"

// Set is a set of statuses. Its zero value is empty (matches nothing);
// build one with Parse. Match is a bit test, so classifying a response
// allocates nothing.
type Set struct {
	bits [(highest + 64) / 64]uint64
}

// Parse reads a comma-separated list of items, each a status ("204"), a
// class ("2xx", case-insensitive) or an inclusive range ("200-299"). It is
// strict: an item that is none of these is an error naming it, and so is an
// empty list or an empty item.
func Parse(spec string) (Set, error) {
	return parseList(spec, "empty: want statuses or classes such as 2xx or 200,204", parseItem)
}

// parseList reads a comma-separated list whose items item turns into
// inclusive ranges of codes; one definition for HTTP statuses and gRPC
// codes. An empty list is an error with the text empty, an empty or bad
// item an error naming it.
func parseList(spec, empty string, item func(string) (lo, hi int, err error)) (Set, error) {
	var s Set
	if strings.TrimSpace(spec) == "" {
		return s, errors.New(empty)
	}
	for i, it := range strings.Split(spec, ",") {
		it = strings.TrimSpace(it)
		lo, hi, err := item(it)
		if err != nil {
			if it == "" {
				return Set{}, fmt.Errorf("item %d is empty", i+1)
			}
			return Set{}, fmt.Errorf("item %q: %w", it, err)
		}
		for c := lo; c <= hi; c++ {
			s.bits[c/64] |= 1 << (c % 64)
		}
	}
	return s, nil
}

// MustParse is Parse for specs known to be valid (constants, tests).
func MustParse(spec string) Set {
	s, err := Parse(spec)
	if err != nil {
		panic("expect.MustParse(" + strconv.Quote(spec) + "): " + err.Error())
	}
	return s
}

var errItem = errors.New("want a status 100-599 or a class like 2xx (or a range like 200-299)")

// parseItem returns the inclusive range of statuses one item names.
func parseItem(item string) (lo, hi int, err error) {
	if len(item) == 3 && (item[1] == 'x' || item[1] == 'X') && (item[2] == 'x' || item[2] == 'X') {
		if item[0] < '1' || item[0] > '5' {
			return 0, 0, errItem
		}
		lo = int(item[0]-'0') * 100
		return lo, lo + 99, nil
	}
	if a, b, ok := strings.Cut(item, "-"); ok {
		lo, err1 := status(strings.TrimSpace(a))
		hi, err2 := status(strings.TrimSpace(b))
		if err1 != nil || err2 != nil {
			return 0, 0, errItem
		}
		if lo > hi {
			return 0, 0, fmt.Errorf("range runs backwards (%d > %d)", lo, hi)
		}
		return lo, hi, nil
	}
	c, err := status(item)
	return c, c, err
}

// status parses one 3-digit status in 100..599.
func status(s string) (int, error) {
	if len(s) != 3 {
		return 0, errItem
	}
	c, err := strconv.Atoi(s)
	if err != nil || c < lowest || c > highest {
		return 0, errItem
	}
	return c, nil
}

// Match reports whether code is in the set.
func (s Set) Match(code int) bool {
	if code < 0 || code > highest {
		return false
	}
	return s.bits[code/64]&(1<<(code%64)) != 0
}

// Empty reports whether the set matches nothing (the zero Set).
func (s Set) Empty() bool {
	return s.bits == [len(s.bits)]uint64{}
}

// String is the normalised spec: ascending, whole classes as "2xx", runs of
// consecutive statuses as "200-204", single ones as "200". Parse(s.String())
// gives the same set.
func (s Set) String() string {
	var parts []string
	for c, name := range grpcCodes { // a gRPC set (ParseGRPC): names
		if s.Match(c) {
			parts = append(parts, name)
		}
	}
	for c := lowest; c <= highest; {
		if !s.Match(c) {
			c++
			continue
		}
		if c%100 == 0 && s.all(c, c+99) {
			parts = append(parts, strconv.Itoa(c/100)+"xx")
			c += 100
			continue
		}
		end := c
		// A run stops before a class that is covered whole, so that class
		// is written as "Nxx".
		for end+1 <= highest && s.Match(end+1) && !((end+1)%100 == 0 && s.all(end+1, end+100)) {
			end++
		}
		if end == c {
			parts = append(parts, strconv.Itoa(c))
		} else {
			parts = append(parts, strconv.Itoa(c)+"-"+strconv.Itoa(end))
		}
		c = end + 1
	}
	return strings.Join(parts, ",")
}

// all reports whether every status in lo..hi is in the set.
func (s Set) all(lo, hi int) bool {
	for c := lo; c <= hi; c++ {
		if !s.Match(c) {
			return false
		}
	}
	return true
}

// DefaultGRPC is the -expect spec of a gRPC run when none is given: OK.
const DefaultGRPC = "OK"

// grpcCodes are the gRPC status codes by their canonical names (the
// numbering of google.golang.org/grpc/codes).
var grpcCodes = []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// GRPCName returns the canonical name of a gRPC status code ("UNAVAILABLE"
// for 14), or the number when it is not one.
func GRPCName(code int) string {
	if code >= 0 && code < len(grpcCodes) {
		return grpcCodes[code]
	}
	return strconv.Itoa(code)
}

// ParseGRPC reads a comma-separated list of gRPC status codes, each a
// number 0..16 or its name ("OK", "unavailable"), or a range of numbers
// ("0-2"). A gRPC run's set holds gRPC codes where an HTTP run's holds HTTP
// statuses; Match works the same on both.
func ParseGRPC(spec string) (Set, error) {
	return parseList(spec, "empty: want gRPC status codes such as OK or 0,5", grpcItem)
}

var errGRPCItem = errors.New("want a gRPC status code 0-16, its name (OK, UNAVAILABLE, ...) or a range like 0-2")

func grpcItem(item string) (lo, hi int, err error) {
	for c, name := range grpcCodes {
		if strings.EqualFold(item, name) {
			return c, c, nil
		}
	}
	code := func(s string) (int, error) {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 0 || c >= len(grpcCodes) {
			return 0, errGRPCItem
		}
		return c, nil
	}
	if a, b, ok := strings.Cut(item, "-"); ok {
		lo, err1 := code(a)
		hi, err2 := code(b)
		if err1 != nil || err2 != nil {
			return 0, 0, errGRPCItem
		}
		if lo > hi {
			return 0, 0, fmt.Errorf("range runs backwards (%d > %d)", lo, hi)
		}
		return lo, hi, nil
	}
	c, err := code(item)
	return c, c, err
}
