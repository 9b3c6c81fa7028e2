package deploy_test

import (
	"os"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// TestChartAppliesServerSide and TestSecurityImpersonationIsLimited share
// one control plane (testserver.SharedKubernetes); Main stops it after the
// tests.
func TestMain(m *testing.M) { os.Exit(testserver.Main(m)) }
