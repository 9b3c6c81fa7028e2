package kube_test

import (
	"os"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// The tests against a real API server share one control plane
// (testserver.SharedKubernetes), each in a namespace of its own; Main
// stops it after the tests.
func TestMain(m *testing.M) { os.Exit(testserver.Main(m)) }
