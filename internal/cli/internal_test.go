package cli

import (
	"context"
	"errors"
	"os/user"
	"strings"
	"testing"
	"time"
)

func TestSandboxURL(t *testing.T) {
	tests := []struct {
		addr, want, wantErr string
	}{
		{addr: "127.0.0.1:19195", want: "http://127.0.0.1:19195"},
		{addr: "localhost:9095", want: "http://localhost:9095"},
		{addr: ":9095", want: "http://127.0.0.1:9095"},
		{addr: "0.0.0.0:9095", want: "http://127.0.0.1:9095"},
		{addr: "[::1]:9095", want: "http://[::1]:9095"},
		{addr: "http://127.0.0.1:19195", want: "http://127.0.0.1:19195"},
		{addr: "http://127.0.0.1:19195/", want: "http://127.0.0.1:19195"},
		{addr: "https://sandbox.example.com/shop/", want: "https://sandbox.example.com/shop"},
		{addr: " 127.0.0.1:9095 ", want: "http://127.0.0.1:9095"},
		{addr: "", wantErr: "empty address"},
		{addr: "127.0.0.1", wantErr: `"127.0.0.1" is neither host:port nor a URL`},
		{addr: "localhost", wantErr: "neither host:port nor a URL"},
		{addr: "127.0.0.1:http", wantErr: `port "http" is not a number`},
		{addr: "127.0.0.1:0", wantErr: `port "0" is not a number from 1 to 65535`},
		{addr: "127.0.0.1:70000", wantErr: `port "70000"`},
		{addr: "ftp://127.0.0.1:9095", wantErr: "http or https, not ftp"},
		{addr: "http://", wantErr: "has no host"},
		{addr: "http://:9095", wantErr: "has no host"},
		{addr: "http://h:99999", wantErr: `port "99999"`},
		{addr: "http://user:pw@h:9095", wantErr: "leave out credentials"},
		{addr: "http://h:9095/?x=1", wantErr: "leave out credentials, query and fragment"},
		{addr: "http://[::1", wantErr: "is not a URL"},
		{addr: "a b:9095", wantErr: "is not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := sandboxURL(tt.addr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "give host:port") {
					t.Errorf("sandboxURL(%q) = %q, %v; want an error with %q and the forms that work", tt.addr, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("sandboxURL(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
			}
		})
	}
}

func TestUserName(t *testing.T) {
	found := func() (*user.User, error) { return &user.User{Username: "ops"}, nil }
	none := func() (*user.User, error) { return nil, errors.New("user: unknown userid 1000") }
	uid := func() int { return 1000 }
	tests := []struct {
		name    string
		environ []string
		current func() (*user.User, error)
		want    string
	}{
		{"$USER", []string{"HOME=/h", "USER=alice"}, found, "alice"},
		{"$USER empty: the account", []string{"USER="}, found, "ops"},
		{"no $USER: the account", nil, found, "ops"},
		{"no account either: the uid", nil, none, "uid1000"},
		{"an account without a name: the uid", nil, func() (*user.User, error) { return &user.User{}, nil }, "uid1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := userName(tt.environ, tt.current, uid); got != tt.want {
				t.Errorf("userName = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRunChatStopsWhenTheContextEnds: SIGTERM ends the demo even when its
// chat is blocked reading input, so the sandbox's Close runs.
func TestRunChatStopsWhenTheContextEnds(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	blocked := func(context.Context) error { <-block; return nil }
	quits := func(ctx context.Context) error { <-ctx.Done(); return nil }
	tests := []struct {
		name        string
		loop        func(context.Context) error
		wantRestore bool
	}{
		{"a chat that notices", quits, false},
		{"a chat blocked on its input", blocked, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			restored := false
			done := make(chan error, 1)
			go func() { done <- runChat(ctx, tt.loop, func() { restored = true }) }()
			cancel()
			select {
			case err := <-done:
				if err != nil || restored != tt.wantRestore {
					t.Errorf("err %v, terminal restored %v (want %v)", err, restored, tt.wantRestore)
				}
			case <-time.After(chatGrace + 5*time.Second):
				t.Fatal("runChat did not return after the context ended")
			}
		})
	}
}
