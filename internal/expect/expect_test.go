package expect

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec       string
		want       string // normalised
		in, out    []int  // must and must not match
		errMention string // non-empty: Parse fails and its error contains this
	}{
		{spec: "2xx", want: "2xx", in: []int{200, 204, 299}, out: []int{199, 300, 404, 503, 0, -1, 600, 999}},
		{spec: "2XX", want: "2xx", in: []int{250}},
		{spec: "200,204", want: "200,204", in: []int{200, 204}, out: []int{201, 203, 205}},
		{spec: " 204 , 200 ", want: "200,204", in: []int{200, 204}},
		{spec: "2xx,3xx", want: "2xx,3xx", in: []int{200, 301, 399}, out: []int{400, 199}},
		{spec: "200-299", want: "2xx", in: []int{200, 299}, out: []int{300}},
		{spec: "200-250", want: "200-250", in: []int{250}, out: []int{251}},
		{spec: "199-201", want: "199-201", in: []int{199, 200, 201}, out: []int{198, 202}},
		{spec: "150-299", want: "150-199,2xx", in: []int{150, 299}, out: []int{149, 300}},
		{spec: "2xx,200", want: "2xx"},
		{spec: "200,404", want: "200,404", in: []int{200, 404}, out: []int{201, 403}},
		{spec: "100,599", want: "100,599", in: []int{100, 599}, out: []int{101, 598}},
		{spec: "1xx,2xx,3xx,4xx,5xx", want: "1xx,2xx,3xx,4xx,5xx", in: []int{100, 599}, out: []int{99, 600}},
		{spec: "2xy", errMention: `item "2xy": want a status 100-599 or a class like 2xx`},
		{spec: "6xx", errMention: `item "6xx"`},
		{spec: "0xx", errMention: `item "0xx"`},
		{spec: "600", errMention: `item "600"`},
		{spec: "99", errMention: `item "99"`},
		{spec: "2000", errMention: `item "2000"`},
		{spec: "+200", errMention: `item "+200"`},
		{spec: "ok", errMention: `item "ok"`},
		{spec: "200,,204", errMention: "item 2 is empty"},
		{spec: "200,", errMention: "item 2 is empty"},
		{spec: "", errMention: "empty"},
		{spec: "  ", errMention: "empty"},
		{spec: "299-200", errMention: `item "299-200": range runs backwards`},
		{spec: "200-2xx", errMention: `item "200-2xx"`},
		{spec: "200-", errMention: `item "200-"`},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := Parse(tc.spec)
			if tc.errMention != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMention) {
					t.Fatalf("Parse(%q) error %v, want one mentioning %q", tc.spec, err, tc.errMention)
				}
				if !s.Empty() {
					t.Errorf("Parse(%q) failed but returned a non-empty set %q", tc.spec, s)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.spec, err)
			}
			if got := s.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			for _, c := range tc.in {
				if !s.Match(c) {
					t.Errorf("%q does not match %d", tc.spec, c)
				}
			}
			for _, c := range tc.out {
				if s.Match(c) {
					t.Errorf("%q matches %d", tc.spec, c)
				}
			}
			again, err := Parse(s.String())
			if err != nil || again != s {
				t.Errorf("Parse(String()) = %q, %v; want the same set", again, err)
			}
		})
	}
}

// TestMatchAgreesWithItems checks Match against a plain reading of the
// items for every status 0..999 (the bitset arithmetic, at word edges too).
func TestMatchAgreesWithItems(t *testing.T) {
	tests := []struct {
		spec string
		want func(c int) bool
	}{
		{"2xx", func(c int) bool { return c >= 200 && c <= 299 }},
		{"127,128,191,192,255,256", func(c int) bool {
			return c == 127 || c == 128 || c == 191 || c == 192 || c == 255 || c == 256
		}},
		{"300-447", func(c int) bool { return c >= 300 && c <= 447 }},
	}
	for _, tc := range tests {
		s := MustParse(tc.spec)
		for c := 0; c < 1000; c++ {
			if got := s.Match(c); got != tc.want(c) {
				t.Errorf("%q: Match(%d) = %v", tc.spec, c, got)
			}
		}
	}
}

func TestZeroSetIsEmpty(t *testing.T) {
	var s Set
	if !s.Empty() || s.String() != "" || s.Match(200) {
		t.Fatalf("zero Set: empty %v, %q, matches 200: %v", s.Empty(), s, s.Match(200))
	}
	if MustParse(Default).Empty() {
		t.Fatal("the default set is empty")
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	s := MustParse("200,204,3xx")
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if s.Match(204) {
			n++
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Match", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	s := MustParse(Default)
	n := 0
	for i := 0; b.Loop(); i++ {
		if s.Match(100 + i%500) {
			n++
		}
	}
	_ = n
}

func TestParseGRPC(t *testing.T) {
	for _, tc := range []struct {
		spec, str string
		match     []int
		not       []int
		err       string
	}{
		{spec: "OK", str: "OK", match: []int{0}, not: []int{1, 14, 200}},
		{spec: "ok, unavailable", str: "OK,UNAVAILABLE", match: []int{0, 14}, not: []int{4}},
		{spec: "0-2,5", str: "OK,CANCELLED,UNKNOWN,NOT_FOUND", match: []int{0, 1, 2, 5}, not: []int{3, 16}},
		{spec: "17", err: `item "17"`},
		{spec: "2xx", err: `item "2xx"`},
		{spec: "3-1", err: "backwards"},
		{spec: "", err: "empty"},
	} {
		s, err := ParseGRPC(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseGRPC(%q) err %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseGRPC(%q): %v", tc.spec, err)
		}
		for _, c := range tc.match {
			if !s.Match(c) {
				t.Errorf("ParseGRPC(%q) does not match %d", tc.spec, c)
			}
		}
		for _, c := range tc.not {
			if s.Match(c) {
				t.Errorf("ParseGRPC(%q) matches %d", tc.spec, c)
			}
		}
		if s.String() != tc.str {
			t.Errorf("ParseGRPC(%q).String() = %q, want %q", tc.spec, s.String(), tc.str)
		}
	}
	if GRPCName(14) != "UNAVAILABLE" || GRPCName(99) != "99" {
		t.Errorf("GRPCName: %q %q", GRPCName(14), GRPCName(99))
	}
	// An HTTP set never matches a gRPC code.
	if MustParse("2xx").Match(0) {
		t.Error("2xx matches gRPC OK")
	}
}
