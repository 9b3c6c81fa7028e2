package store_test

import (
	"os"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// The PostgreSQL tests share one server (testserver.SharedPostgres), each
// on a database of its own; Main stops the server after the tests.
func TestMain(m *testing.M) { os.Exit(testserver.Main(m)) }
