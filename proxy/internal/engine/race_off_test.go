//go:build !race

package engine

// raceEnabled selects the allocation bound (see allocLimit).
const raceEnabled = false
