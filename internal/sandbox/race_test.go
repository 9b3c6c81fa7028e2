//go:build race

package sandbox_test

// raceDetector: the race detector slows code about ten times.
const raceDetector = true
