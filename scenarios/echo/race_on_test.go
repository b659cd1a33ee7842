//go:build race

package echo

// raceEnabled: under the race detector sync.Pool drops a quarter of what
// is put back, so pool-backed paths allocate at random and allocation
// counts mean nothing. make test runs the allocation tests a second time
// without -race.
const raceEnabled = true
