package endpoint

import (
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuthAndHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{BearerToken: "tok"}, "Bearer tok"},
		{Config{Username: "u", Password: "p"}, "Basic dTpw"},
		{Config{}, ""},
	} {
		tt.cfg.Headers = map[string]string{"X-Scope-OrgID": "team-a"}
		c, err := tt.cfg.Client()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(srv.URL); err != nil {
			t.Fatal(err)
		}
		if got.Get("Authorization") != tt.want || got.Get("X-Scope-OrgID") != "team-a" {
			t.Errorf("Authorization=%q org=%q, want %q", got.Get("Authorization"), got.Get("X-Scope-OrgID"), tt.want)
		}
	}
}

func TestResponseSizeCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/announced" {
			w.Header().Set("Content-Length", "5000")
		}
		w.Write([]byte(strings.Repeat("x", 5000)))
	}))
	defer srv.Close()
	c, _ := Config{MaxResponseBytes: 1000}.Client()
	for _, path := range []string{"/streamed", "/announced"} {
		resp, err := c.Get(srv.URL + path)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if !errors.Is(err, ErrResponseTooLarge) || !strings.Contains(err.Error(), "narrow the query") {
			t.Errorf("%s: err = %v", path, err)
		}
	}
	exact, _ := Config{MaxResponseBytes: 5000}.Client()
	resp, err := exact.Get(srv.URL + "/streamed")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 5000 {
		t.Errorf("a body of exactly the cap: %d bytes, %v", len(b), err)
	}
}

func TestTLSWithCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	cert := srv.Certificate()
	_ = os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600)
	c, err := Config{CAFile: ca}.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(srv.URL); err != nil {
		t.Errorf("with the server's CA: %v", err)
	}
	plain, _ := Config{MaxRetries: -1}.Client()
	if _, err := plain.Get(srv.URL); err == nil {
		t.Error("an unknown CA was accepted")
	}
	if _, err := (Config{Name: "prometheus", CAFile: filepath.Join(dir, "missing.pem")}).Client(); err == nil || !strings.Contains(err.Error(), "prometheus: read CA file") {
		t.Errorf("missing CA: %v", err)
	}
	_ = os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("junk"), 0o600)
	if _, err := (Config{CAFile: filepath.Join(dir, "junk.pem")}).Client(); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("junk CA: %v", err)
	}
}
