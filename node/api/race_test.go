//go:build race

package api

// raceEnabled: the race detector makes sync.Pool drop items, so tests of
// allocation counts skip under it.
const raceEnabled = true
