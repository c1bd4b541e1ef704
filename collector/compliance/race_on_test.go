//go:build race

package compliance

// raceEnabled says the race detector is on: it drops sync.Pool's items at
// random, so encoding/json's pooled state is allocated anew and byte counts
// of encoding are not what a normal build allocates.
const raceEnabled = true
