package logs

import (
	"strings"
	"testing"
)

func TestIsVariable(t *testing.T) {
	for tok, want := range map[string]bool{
		"42": true, "blk_-1608999687919862906": true, "0x1f": true, "(uid=0)": true, "v1.2.3": true, "12ms": true,
		"/var/lib/app.db": true, "[/tmp]": true, "~/notes": true, "./run.sh": true, "https://example.com/x": true,
		`C:\Windows\System32`: true, `CORP\alice`: true, "alice@example.com": true, "ns.example.com": true,
		"com.android.settings/.Settings": true, "'true'": true, "false,": true, "<*>": true, "blk_<*>": true,
		"Failed": false, "password": false, "I/O": false, "read/write": false, "org.apache.Server": false,
		"user": false, "nil": false, "null": false, "(pam_unix)": false, "HTTPS": false, "-": false, "/": false, "@": false,
	} {
		if got := isVariable(tok); got != want {
			t.Errorf("isVariable(%q) = %v, want %v", tok, got, want)
		}
	}
}

// TestTokenNeighbours checks the rules that look beside a token: a unit
// after a number and a month or weekday next to numbers are values; the
// same words elsewhere are words.
func TestTokenNeighbours(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"sent 1.2 MB in 250 ms", "sent <*> in <*>"},
		{"lifetime <1 sec", "lifetime <*>"},
		{"received 3 KB)", "received <*>"},
		{"the MB is full", "the MB is full"},
		{"connection at Sun Jul 17 14:03:05 2005 closed", "connection at <*> closed"},
		{"May the job run", "May the job run"},
		{"status=500 user=alice", "status=<*> user=alice"},
	}
	for _, tt := range tests {
		m := NewMiner(MinerConfig{})
		if got := strings.Join(m.tokenize(tt.msg), " "); got != tt.want {
			t.Errorf("tokenize(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}
