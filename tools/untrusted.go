package tools

import (
	"fmt"
	"regexp"
	"strings"
)

// untrustedMarker is the block's marker in any letter case: a model may
// read </UNTRUSTED-DATA> as the end of the block as readily as the
// lower-case form.
var untrustedMarker = regexp.MustCompile(`(?i)</?untrusted-data`)

// Untrusted wraps text that came from the observed systems — log lines,
// event messages, annotations — in markers the system prompt tells the model
// to read as data only. A line cannot end the block early: any marker inside
// text is defused, so "</untrusted-data>" written into a log stays inside.
func Untrusted(source, text string) string {
	text = untrustedMarker.ReplaceAllStringFunc(text, func(m string) string { return strings.Replace(m, "-", "_", 1) })
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return fmt.Sprintf("<untrusted-data source=%q>\n%s</untrusted-data>\n", source, text)
}
