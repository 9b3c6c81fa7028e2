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
//
// The markers are for the model; StripMarkers removes them for people.
func Untrusted(source, text string) string {
	text = defuse(text)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return fmt.Sprintf("<untrusted-data source=%q>\n%s</untrusted-data>\n", source, text)
}

// defuse breaks every marker in text ("</untrusted_data>"), so that it
// neither opens nor closes a block.
func defuse(text string) string {
	return untrustedMarker.ReplaceAllStringFunc(text, func(m string) string { return strings.Replace(m, "-", "_", 1) })
}

// markerLine is a marker exactly as Untrusted writes it, with its line
// break: the opening one (its source quoted by %q) or the closing one,
// each on a line of its own.
var markerLine = regexp.MustCompile(`(?m)^(?:<untrusted-data source="(?:[^"\\\n]|\\.)*">|</untrusted-data>)(?:\n|$)`)

// StripMarkers returns text for people: the marker lines Untrusted wrote
// are removed, what they enclosed is kept, and any other marker — one
// written into a log line that reached people's text unwrapped — is
// defused as Untrusted would, so the result never holds a live marker.
func StripMarkers(text string) string {
	if !untrustedMarker.MatchString(text) {
		return text
	}
	return defuse(markerLine.ReplaceAllString(text, ""))
}
