package config

import (
	"fmt"
	"regexp"
	"time"
)

// Duration is a Gateway API (GEP-2257) duration string: one to four
// components of 1-5 decimal digits followed by h, m, s or ms, e.g. "10s",
// "1h30m", "500ms". It is kept as written (the API must not normalise user
// input) and parsed on demand.
type Duration string

var durationRE = regexp.MustCompile(`^([0-9]{1,5}(h|m|s|ms)){1,4}$`)

// Parse validates d against the GEP-2257 grammar and returns its value.
// GEP-2257 defines the value as Go's time.ParseDuration of the string, which
// is what this uses once the (stricter) grammar has matched.
func (d Duration) Parse() (time.Duration, error) {
	if !durationRE.MatchString(string(d)) {
		return 0, fmt.Errorf("invalid duration %q (want Gateway API duration such as 10s, 500ms or 1h30m: ^([0-9]{1,5}(h|m|s|ms)){1,4}$)", string(d))
	}
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", string(d), err)
	}
	return v, nil
}
