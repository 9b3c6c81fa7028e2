// Package version reports what build this is. The values are set at link
// time by the Makefile (-ldflags -X); these package variables are the one
// place that mechanism needs, and nothing writes them at run time.
package version

import (
	"fmt"
	"runtime"
)

var (
	version  = "dev"
	revision = "unknown"
)

// Version is the release version, "dev" for local builds.
func Version() string { return version }

// Revision is the git commit the binary was built from.
func Revision() string { return revision }

// String is the one-line description printed by `watchkeeper version`.
func String() string {
	return fmt.Sprintf("watchkeeper %s (revision %s, %s %s/%s)", version, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
