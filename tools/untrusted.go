package tools

import (
	"fmt"
	"strings"
)

// Untrusted wraps text that came from the observed systems — log lines,
// event messages, annotations — in markers the system prompt tells the model
// to read as data only. A line cannot end the block early: any marker inside
// text is defused, so "</untrusted-data>" written into a log stays inside.
func Untrusted(source, text string) string {
	text = strings.ReplaceAll(text, "<untrusted-data", "<untrusted_data")
	text = strings.ReplaceAll(text, "</untrusted-data", "</untrusted_data")
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return fmt.Sprintf("<untrusted-data source=%q>\n%s</untrusted-data>\n", source, text)
}
