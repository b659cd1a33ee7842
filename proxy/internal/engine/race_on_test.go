//go:build race

package engine

// raceEnabled selects the allocation bound (see allocLimit): under -race,
// sync.Pool drops items at random.
const raceEnabled = true
