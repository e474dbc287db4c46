//go:build !race

package stego

const raceEnabled = false
