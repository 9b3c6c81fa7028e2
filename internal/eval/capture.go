package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Captured says what Capture did with each recording.
type Captured struct {
	File string
	// Kept is why the recording was left as it was ("" when refreshed).
	Kept string
}

// Capture runs each recording's call against live tools and writes what
// they return into the recording, keeping its tool, match and arguments.
// Recordings matched by regular expression (there is no one call to make)
// and tools not among ts are kept as they are.
func Capture(ctx context.Context, s *Scenario, ts []tools.Tool, from string) ([]Captured, error) {
	byName := map[string]tools.Tool{}
	for _, t := range ts {
		byName[t.Spec().Name] = t
	}
	var out []Captured
	for _, rec := range s.Recordings {
		c := Captured{File: rec.File}
		t, ok := byName[rec.Tool]
		switch {
		case rec.Keep:
			c.Kept = "written by hand (keep: true)"
		case rec.matchKind() == MatchRegex:
			c.Kept = "a regex rule names no single call"
		case !ok:
			c.Kept = "the tool is not available from " + from
		}
		if c.Kept != "" {
			out = append(out, c)
			continue
		}
		args, _ := json.Marshal(rec.Args)
		if rec.Args == nil {
			args = []byte("{}")
		}
		if err := t.Spec().Parameters.Validate(args); err != nil {
			return out, fmt.Errorf("%s: the arguments are not valid for %s, so no model call could match them: %w", rec.File, rec.Tool, err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		res, err := t.Run(cctx, args)
		cancel()
		if err != nil {
			return out, fmt.Errorf("%s: %s %s: %w", rec.File, rec.Tool, args, err)
		}
		f := recordingFile{Tool: rec.Tool, Match: rec.matchKind(), Args: rec.Args, Output: res.Text, Error: res.Error}
		if p := res.Proposal; p != nil {
			f.Output = ""
			f.Proposal = &RecordedProposal{Summary: p.Summary, Reason: p.Reason, Details: p.Details, Risk: p.Risk}
		}
		b, err := yaml.Marshal(f)
		if err != nil {
			return out, err
		}
		header := fmt.Sprintf("# Captured from %s at %s by `watchkeeper eval capture`.\n", from, s.Now.UTC().Format(time.RFC3339))
		if err := os.WriteFile(filepath.Join(s.Dir, rec.File), append([]byte(header), b...), 0o644); err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}
