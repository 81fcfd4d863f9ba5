//go:build race

package kern

// raceEnabled: the race detector makes sync.Pool drop items at random, so allocation counts
// are not the steady state's.
const raceEnabled = true
