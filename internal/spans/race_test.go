//go:build race

package spans

// raceEnabled: the race detector slows code ~10×; timing bounds relax.
const raceEnabled = true
