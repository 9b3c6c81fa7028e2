//go:build !race

package rca

// raceDetector is set when the tests run under the race detector.
const raceDetector = false
