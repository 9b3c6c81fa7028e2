package incident

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// WebhookAuth is what a request must carry: a bearer token or basic-auth
// credentials (Alertmanager's http_config supports both). Empty: none.
type WebhookAuth struct {
	BearerToken        string
	Username, Password string
}

func (a WebhookAuth) ok(r *http.Request) bool {
	switch {
	case a.BearerToken != "":
		got := r.Header.Get("Authorization")
		return subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+a.BearerToken)) == 1
	case a.Username != "":
		u, p, ok := r.BasicAuth()
		return ok && subtle.ConstantTimeCompare([]byte(u), []byte(a.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(a.Password)) == 1
	}
	return true
}

// MaxWebhookBytes bounds a notification (Alertmanager truncates groups to
// max_alerts; a few thousand alerts fit easily).
const MaxWebhookBytes = 4 << 20

// Handler receives Alertmanager notifications at POST
// /webhooks/alertmanager: authenticated, bounded, validated with clear 4xx
// messages, idempotent, and acknowledged with what happened. A store
// failure answers 500 so Alertmanager retries.
func (s *Service) Handler(auth WebhookAuth) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/alertmanager", func(w http.ResponseWriter, r *http.Request) {
		if !auth.ok(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="watchkeeper"`)
			http.Error(w, "missing or wrong credentials: configure the receiver's http_config (bearer token or basic auth) as incidents.webhook says", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "notification larger than 4 MiB; lower max_alerts in the Alertmanager receiver", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "unreadable body: "+err.Error(), http.StatusBadRequest)
			return
		}
		var m Message
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "not an Alertmanager webhook notification (JSON): "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := m.Validate(); err != nil {
			http.Error(w, "invalid notification: "+err.Error(), http.StatusBadRequest)
			return
		}
		out, err := s.Handle(r.Context(), m)
		if err != nil {
			s.opts.Logger.Error("handle an Alertmanager notification", "group", m.GroupKey, "err", err)
			http.Error(w, "could not record the notification; Alertmanager will retry: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}
