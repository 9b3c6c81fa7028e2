// Package runbooks holds the example runbooks shipped with Watchkeeper:
// Markdown with front matter (title, alerts, services, owners). Teams
// point runbooks.dir at their own repository; these serve the demo and
// show the format.
package runbooks

import "embed"

// Examples are the shipped runbooks.
//
//go:embed *.md
var Examples embed.FS
