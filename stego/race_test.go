//go:build race

package stego

// raceEnabled reports whether the race detector is on: it changes how much
// memory code allocates, so allocation tests skip under it.
const raceEnabled = true
