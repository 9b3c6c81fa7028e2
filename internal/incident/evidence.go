package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/tools/traces"
)

// TraceSampler keeps what matters of a window of a service's traces
// (traces.Sampler).
type TraceSampler interface {
	Sample(ctx context.Context, service, namespace string, start, end time.Time) (traces.Sampled, error)
}

// EvidenceStore keeps files with incidents (store.Evidences).
type EvidenceStore interface {
	PutEvidence(ctx context.Context, e store.Evidence) error
}

// TraceEvidenceName is the name of the kept traces of service among an
// incident's evidence. The name comes from an alert's labels, so only
// characters safe in a file name are kept.
func TraceEvidenceName(service string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, service)
	if len(clean) > 100 {
		clean = clean[:100]
	}
	return "traces/" + strings.TrimLeft(clean, ".") + ".jsonl"
}

// keepTraces keeps, with the incident, the sampled traces of the window
// the traces step read (the step's arguments as the channel's scope
// limited them): a trace ID the thread cites stays readable after the
// trace store forgets it. Nothing is kept when the step did not run.
func (p Playbook) keepTraces(ctx context.Context, in Incident, findings []Finding) {
	if p.Traces == nil || p.Evidence == nil {
		return
	}
	var step *Finding
	for i := range findings {
		if findings[i].Tool == "traces_search" && !findings[i].Failed {
			step = &findings[i]
		}
	}
	if step == nil {
		return
	}
	var args struct {
		Service   string `json:"service"`
		Namespace string `json:"namespace"`
		Start     string `json:"start"`
	}
	if err := json.Unmarshal(step.Args, &args); err != nil || args.Service == "" {
		p.Logger.Warn("keep the incident's traces: the traces step's arguments are not readable", "incident", in.ID, "args", string(step.Args))
		return
	}
	start, err := time.Parse(time.RFC3339, args.Start)
	if err != nil {
		p.Logger.Warn("keep the incident's traces: the traces step has no start", "incident", in.ID, "start", args.Start)
		return
	}
	end := time.Now()
	if p.Now != nil {
		end = p.Now()
	}
	sampled, err := p.Traces.Sample(ctx, args.Service, args.Namespace, start, end)
	if err != nil {
		p.Logger.Warn("keep the incident's traces", "incident", in.ID, "err", err)
		return
	}
	if len(sampled.Traces) == 0 {
		return
	}
	var buf bytes.Buffer
	for _, t := range sampled.Traces {
		if err := spans.WriteJSONL(&buf, t.Spans); err != nil {
			p.Logger.Warn("keep the incident's traces", "incident", in.ID, "err", err)
			return
		}
	}
	if buf.Len() > store.MaxEvidenceBytes {
		p.Logger.Warn("keep the incident's traces: too large to keep", "incident", in.ID, "bytes", buf.Len())
		return
	}
	name := TraceEvidenceName(args.Service)
	e := store.Evidence{IncidentID: in.ID, Name: name, ContentType: "application/x-ndjson", Summary: sampled.Summary(), Data: buf.Bytes()}
	if err := p.Evidence.PutEvidence(ctx, e); err != nil {
		p.Logger.Warn("keep the incident's traces", "incident", in.ID, "err", err)
		return
	}
	if p.Timeline != nil {
		p.record(ctx, in.ID, "evidence", fmt.Sprintf("kept %s; read them with `watchkeeper incident evidence %s %s`", e.Summary, in.ID, name))
	}
}
