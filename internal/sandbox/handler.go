package sandbox

import (
	"encoding/json"
	"net/http"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/alerting"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/lokiapi"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/promapi"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/traceapi"
)

// Handler serves the Prometheus API at /api/v1 (and a small /graph page
// for the links to it), the Loki API at /loki/api/v1, Jaeger's query API
// at /api/services, /api/operations and /api/traces, the sandbox's own
// API at /sandbox/v1, and at / a page listing all of it with the
// services and faults. In a GitOps scenario it also serves the git
// repository at /sandbox/shop.git and the fake forge's GitHub API at
// /forge/github.
func (sb *Sandbox) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", sb.indexHandler)
	promapi.NewAPI(sb.metrics, promapi.Config{Now: sb.Now, Rules: ruleSource{sb.rules}, Snapshot: sb.snapshot, Parser: sb.parser}).Register(mux)
	lokiapi.NewAPI(sb.logs, sb.Now).Register(mux)
	traceapi.NewAPI(sb.traces.Store(), sb.Now).Register(mux)
	mux.HandleFunc("GET /sandbox/v1/status", sb.statusHandler)
	mux.HandleFunc("GET /sandbox/v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"catalogue": Catalogue(), "faults": sb.Faults()})
	})
	mux.HandleFunc("POST /sandbox/v1/faults", sb.injectHandler)
	if sb.gitops != nil {
		mux.Handle("/"+gitopsRepo+".git/", sb.gitops.gitHandler())
		mux.Handle("/forge/github/", http.StripPrefix("/forge/github", sb.gitops.info.forge))
	}
	return mux
}

// snapshot is the latest step, nil before the first.
func (sb *Sandbox) snapshot() *Snapshot {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.lastSnap
}

// ruleSource shows the alerting rules to the Prometheus API. The emulators
// do not import each other; the root translates between them.
type ruleSource struct{ rs *alerting.RuleSet }

// ViewRules implements promapi.RuleSource.
func (s ruleSource) ViewRules(f func(promapi.RuleGroup)) {
	s.rs.View(func(g alerting.Group) { f(promapi.RuleGroup(g)) })
}

func (sb *Sandbox) statusHandler(w http.ResponseWriter, _ *http.Request) {
	sb.mu.Lock()
	snap := sb.lastSnap
	now := sb.nowLocked()
	sb.mu.Unlock()
	var services []map[string]any
	if snap != nil {
		for _, st := range snap.Services {
			services = append(services, map[string]any{"name": st.Name, "rps": st.RPS, "error_rate": st.ErrorRate,
				"latency_p50_s": st.Latency, "ready": st.Ready, "replicas": st.Replicas, "version": st.Version})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"scenario": sb.scenario.Name, "seed": sb.world.Seed(), "now": now,
		"services": services, "faults": sb.Faults(), "traces": sb.traces.Stats()})
}

func (sb *Sandbox) injectHandler(w http.ResponseWriter, r *http.Request) {
	var spec FaultSpec
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid fault: " + err.Error()})
		return
	}
	f, err := sb.Inject(spec)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
