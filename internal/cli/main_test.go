package cli_test

import (
	"os"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// TestTwoReplicas and TestTwoReplicasStorm share one PostgreSQL and one
// control plane (testserver.SharedPostgres, SharedKubernetes), each test on
// a database and a namespace of its own; Main stops them after the tests.
func TestMain(m *testing.M) { os.Exit(testserver.Main(m)) }
