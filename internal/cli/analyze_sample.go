package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// maxSampleSpans bounds what `analyze sample` holds: tail sampling needs
// whole traces, so the file is read before deciding.
const maxSampleSpans = 5_000_000

// sampleReport is `analyze sample --json`'s output.
type sampleReport struct {
	Input  string `json:"input"`
	Traces int    `json:"traces"`
	Spans  int    `json:"spans"`
	// KeptTraces and KeptSpans passed the sampler; Reduction is the share
	// of spans not kept.
	KeptTraces int                  `json:"kept_traces"`
	KeptSpans  int                  `json:"kept_spans"`
	Reduction  float64              `json:"reduction"`
	KeptBy     map[spans.Reason]int `json:"kept_by"`
	Errors     keptShare            `json:"error_traces"`
	Slow       keptShare            `json:"slowest_1pct_traces"`
	Touched    *keptShare           `json:"fault_touched_traces,omitempty"`
	// Unremarkable are the spans of traces with no error and, in labelled
	// input, no fault's touch: what a sampler should mostly drop.
	Unremarkable keptShare            `json:"unremarkable_spans"`
	Bytes        sampleBytes          `json:"bytes"`
	Options      spans.SamplerOptions `json:"options"`
	// DecisionWait is how many traces a dropped trace was held for, in
	// case its operation turned anomalous (0: none).
	DecisionWait int            `json:"decision_wait"`
	Repairs      map[string]int `json:"repairs,omitempty"`
}

// keptShare is how many traces of a kind there were and how many were
// kept.
type keptShare struct {
	Total int     `json:"total"`
	Kept  int     `json:"kept"`
	Share float64 `json:"share"`
}

func (k *keptShare) add(kept bool) {
	k.Total++
	if kept {
		k.Kept++
	}
}

func (k *keptShare) settle() {
	k.Share = 1
	if k.Total > 0 {
		k.Share = float64(k.Kept) / float64(k.Total)
	}
}

// sampleBytes compares storage: every span as JSON lines, and the kept
// spans as zstd-compressed JSON lines (what --out writes).
type sampleBytes struct {
	InputJSON      int64   `json:"input_json"`
	InputZstd      int64   `json:"input_zstd"`
	KeptZstd       int64   `json:"kept_zstd"`
	ReductionBytes float64 `json:"reduction"`
}

func analyzeSampleCmd(stdio IO) *cobra.Command {
	var (
		input, out string
		asJSON     bool
		o          spans.SamplerOptions
		wait       int
	)
	cmd := &cobra.Command{
		Use:   "sample --input spans.jsonl [--out kept.jsonl.zst]",
		Short: "Run the adaptive tail sampler over a spans file and report what it keeps",
		Long: `Reads spans in JSON Lines (one span per line, docs/traces.md: trace_id, span_id,
parent_span_id, service, name, kind, start, duration_us, error, attributes, events),
assembles whole traces, and runs the adaptive tail sampler Watchkeeper uses wherever it
holds spans: every trace with an error, every trace with a span slower than its
operation's recent p99, every trace through an operation misbehaving right now, every
new or rare path, and a share of the rest (--base-rate) decided by a hash of the trace
ID, the same on every replica. A trace it would drop waits for the next --decision-wait
traces and is kept after all if one of its operations turns anomalous meanwhile (the
first calls of an incident come before it is recognisable). It reports the reduction, what was kept and why, the
share of error traces and of the slowest 1 % kept, and, for a labelled input (spans
with "fault": true, as sandbox export writes), the share of fault-touched traces kept.
--out writes the kept spans as zstd-compressed JSON Lines.

  watchkeeper sandbox export --scenario default --out /tmp/case
  watchkeeper analyze sample --input /tmp/case/spans.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if o.BaseRate < 0 || o.BaseRate > 1 {
				return usageError{fmt.Errorf("--base-rate %g: want a share between 0 and 1", o.BaseRate)}
			}
			if wait < 0 {
				return usageError{fmt.Errorf("--decision-wait %d: want a count of traces, 0 for none", wait)}
			}
			r, done, err := openInput(stdio, input)
			if err != nil {
				return err
			}
			defer done()
			var all []spans.Span
			err = spans.ReadJSONL(r, func(s spans.Span) error {
				if len(all) >= maxSampleSpans {
					return fmt.Errorf("more than %d spans: split the file by time and sample each part", maxSampleSpans)
				}
				all = append(all, s)
				return nil
			})
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", inputName(input), err)}
			}
			if len(all) == 0 {
				return usageError{fmt.Errorf("%s: no spans", inputName(input))}
			}
			var w io.Writer = io.Discard
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return usageError{fmt.Errorf("--out: %w", err)}
				}
				defer f.Close()
				w = f
			}
			// 0 means none here, as the flag says; the Waiter's 0 is its default.
			rep, err := sampleSpans(all, o, cmp.Or(wait, -1), w)
			if err != nil {
				return err
			}
			rep.Input = inputName(input)
			if asJSON {
				enc := json.NewEncoder(stdio.Out)
				enc.SetIndent("", " ")
				return enc.Encode(rep)
			}
			printSampleReport(stdio.Out, rep, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "spans in JSON Lines (- reads standard input)")
	cmd.Flags().StringVar(&out, "out", "", "write the kept spans here, zstd-compressed JSON Lines")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().Float64Var(&o.BaseRate, "base-rate", spans.DefaultBaseRate, "share of unremarkable traces kept (by trace ID hash)")
	cmd.Flags().IntVar(&o.RareBelow, "rare-below", spans.DefaultRareBelow, "a path seen fewer times than this recently is rare and kept")
	cmd.Flags().IntVar(&o.Window, "window", spans.DefaultWindow, "durations per operation in the latency baseline")
	cmd.Flags().IntVar(&wait, "decision-wait", spans.DefaultDecisionWait, "traces a dropped trace is held for in case its operation turns anomalous (0: none)")
	return cmd
}

// sampleSpans runs the sampler over the traces of all in the order they
// started (a tail sampler sees traces as they complete) and writes the
// kept spans to w, zstd-compressed.
func sampleSpans(all []spans.Span, o spans.SamplerOptions, wait int, w io.Writer) (sampleReport, error) {
	traces := spans.Group(all)
	trees := make([]*spans.Tree, len(traces))
	for i, t := range traces {
		trees[i] = spans.Build(t)
	}

	// The slowest 1 % of traces (by their extent), to check what the
	// latency rules keep.
	durs := make([]float64, len(trees))
	for i, t := range trees {
		durs[i] = t.Duration().Seconds()
	}
	sorted := append([]float64(nil), durs...)
	sort.Float64s(sorted)
	slowCut := sorted[min(len(sorted)-1, int(0.99*float64(len(sorted))))]

	rep := sampleReport{Traces: len(trees), Spans: len(all), KeptBy: map[spans.Reason]int{}, Options: o, DecisionWait: max(wait, 0), Repairs: map[string]int{}}
	inputJSON := &countingWriter{}
	inputZ := &countingWriter{}
	keptZ := &countingWriter{}
	zAll, err := zstd.NewWriter(inputZ)
	if err != nil {
		return rep, err
	}
	zKept, err := zstd.NewWriter(io.MultiWriter(keptZ, w))
	if err != nil {
		return rep, err
	}
	allJSON := json.NewEncoder(io.MultiWriter(inputJSON, zAll))
	keptJSON := json.NewEncoder(zKept)
	index := make(map[string]int, len(trees))
	order := make([]int, len(trees))
	for i, t := range trees {
		index[t.ID] = i
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return treeStart(trees[order[a]]).Before(treeStart(trees[order[b]])) })
	waiter := spans.NewWaiter(spans.NewSampler(o), wait)
	var touched keptShare
	labelled := false
	account := func(v spans.Verdict) error {
		i := index[v.Trace.ID]
		t, d := trees[i], v.Decision
		if d.Keep {
			rep.KeptTraces++
			rep.KeptSpans += len(t.Spans)
			rep.KeptBy[d.Reason]++
		}
		hasErr, isTouched := false, false
		for _, s := range t.Spans {
			hasErr = hasErr || s.Error
			isTouched = isTouched || s.Fault
			if err := allJSON.Encode(s); err != nil {
				return err
			}
			if d.Keep {
				if err := keptJSON.Encode(s); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
			}
		}
		if hasErr {
			rep.Errors.add(d.Keep)
		}
		if !hasErr && !isTouched {
			rep.Unremarkable.Total += len(t.Spans)
			if d.Keep {
				rep.Unremarkable.Kept += len(t.Spans)
			}
		}
		if durs[i] >= slowCut {
			rep.Slow.add(d.Keep)
		}
		if isTouched {
			labelled = true
			touched.add(d.Keep)
		}
		rep.Repairs["orphans"] += t.Orphans
		rep.Repairs["cycles"] += t.Cycles
		rep.Repairs["clock_skew"] += t.Skewed
		rep.Repairs["dropped"] += t.Dropped
		return nil
	}
	// Group gives each trace once, so IDs index trees; the waiter gets the
	// traces as they were read and judges them in the order they started.
	for _, i := range order {
		for _, v := range waiter.Offer(traces[i]) {
			if err := account(v); err != nil {
				return rep, err
			}
		}
	}
	for _, v := range waiter.Flush() {
		if err := account(v); err != nil {
			return rep, err
		}
	}
	if err := zAll.Close(); err != nil {
		return rep, err
	}
	if err := zKept.Close(); err != nil {
		return rep, fmt.Errorf("--out: %w", err)
	}
	for k, v := range rep.Repairs {
		if v == 0 {
			delete(rep.Repairs, k)
		}
	}
	rep.Errors.settle()
	rep.Slow.settle()
	rep.Unremarkable.settle()
	if labelled {
		touched.settle()
		rep.Touched = &touched
	}
	rep.Reduction = 1 - float64(rep.KeptSpans)/float64(rep.Spans)
	rep.Bytes = sampleBytes{InputJSON: inputJSON.n, InputZstd: inputZ.n, KeptZstd: keptZ.n}
	if inputJSON.n > 0 {
		rep.Bytes.ReductionBytes = 1 - float64(keptZ.n)/float64(inputJSON.n)
	}
	return rep, nil
}

func treeStart(t *spans.Tree) (first time.Time) {
	for i, s := range t.Spans {
		if i == 0 || s.Start.Before(first) {
			first = s.Start
		}
	}
	return first
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func printSampleReport(w io.Writer, r sampleReport, out string) {
	pct := func(x float64) string { return fmt.Sprintf("%.1f %%", 100*x) }
	fmt.Fprintf(w, "%s: %d spans in %d traces\n", r.Input, r.Spans, r.Traces)
	fmt.Fprintf(w, "kept: %d traces, %d spans — %s fewer spans\n", r.KeptTraces, r.KeptSpans, pct(r.Reduction))
	reasons := []spans.Reason{spans.ReasonError, spans.ReasonSlow, spans.ReasonAnomalous, spans.ReasonLate, spans.ReasonNewPath, spans.ReasonRarePath, spans.ReasonBase}
	var parts []string
	for _, k := range reasons {
		if n := r.KeptBy[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  kept because: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "error traces kept: %d of %d (%s)\n", r.Errors.Kept, r.Errors.Total, pct(r.Errors.Share))
	fmt.Fprintf(w, "slowest 1 %% of traces kept: %d of %d (%s)\n", r.Slow.Kept, r.Slow.Total, pct(r.Slow.Share))
	if r.Touched != nil {
		fmt.Fprintf(w, "fault-touched traces kept: %d of %d (%s)\n", r.Touched.Kept, r.Touched.Total, pct(r.Touched.Share))
	}
	fmt.Fprintf(w, "spans of unremarkable traces kept: %d of %d (%s fewer)\n", r.Unremarkable.Kept, r.Unremarkable.Total, pct(1-r.Unremarkable.Share))
	fmt.Fprintf(w, "bytes: %s of JSON lines (%s zstd) → %s zstd kept (%s smaller)\n",
		humanBytes(r.Bytes.InputJSON), humanBytes(r.Bytes.InputZstd), humanBytes(r.Bytes.KeptZstd), pct(r.Bytes.ReductionBytes))
	if len(r.Repairs) > 0 {
		keys := make([]string, 0, len(r.Repairs))
		for k := range r.Repairs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var rp []string
		for _, k := range keys {
			rp = append(rp, fmt.Sprintf("%s %d", strings.ReplaceAll(k, "_", " "), r.Repairs[k]))
		}
		fmt.Fprintf(w, "repaired: %s\n", strings.Join(rp, ", "))
	}
	if out != "" {
		fmt.Fprintf(w, "kept spans written to %s\n", out)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
