//go:build !race

package compliance

const raceEnabled = false
