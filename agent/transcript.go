package agent

import (
	"context"
	"encoding/json"
	"time"
)

// RunRecord is what a Recorder stores for every run.
type RunRecord struct {
	Summary
	Question string
	Answer   string
	// Transcript is the JSON encoding of a Transcript.
	Transcript []byte
}

// Transcript is the full record of a run: every message sent to the model,
// including the system prompt, and every event, so a run can be replayed
// and audited. Secrets were redacted before they entered it.
type Transcript struct {
	Summary   Summary   `json:"summary"`
	Input     string    `json:"input"`
	Messages  []Message `json:"messages"`
	Events    []Event   `json:"events"`
	Answer    string    `json:"answer,omitempty"`
	Proposals int       `json:"proposals,omitempty"`
	// Evidence are the run's tool calls, numbered as the answer cites
	// them ([n]); EvidenceOf(Events) gives the same list for transcripts
	// stored before it was kept.
	Evidence []Evidence `json:"evidence,omitempty"`
}

// recordTimeout bounds how long storing a run may take after it ended.
const recordTimeout = 10 * time.Second

func (a *Agent) record(ctx context.Context, r *run) {
	if a.opts.Recorder == nil {
		return
	}
	r.mu.Lock()
	t := Transcript{
		Summary:   r.res.Summary,
		Input:     r.redact(r.task.Input),
		Messages:  r.msgs,
		Events:    r.events,
		Answer:    r.res.Answer,
		Proposals: len(r.res.Proposals),
		Evidence:  r.res.Evidence,
	}
	b, err := json.Marshal(t)
	r.mu.Unlock()
	if err != nil {
		a.opts.Logger.Error("encode run transcript", "run_id", r.res.RunID, "err", err)
		return
	}
	// The run's own context may be cancelled or timed out; the record of
	// why it ended must still be written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	rec := RunRecord{Summary: r.res.Summary, Question: t.Input, Answer: r.res.Answer, Transcript: b}
	if err := a.opts.Recorder.RecordRun(ctx, rec); err != nil {
		a.opts.Logger.Error("record run", "run_id", r.res.RunID, "err", err)
	}
}
