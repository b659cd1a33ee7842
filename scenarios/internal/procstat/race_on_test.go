//go:build race

package procstat

// raceEnabled: the race detector instruments map and slice accesses and
// allocates on its own, so allocation counts mean nothing under it. make test
// runs the allocation tests a second time without -race.
const raceEnabled = true
