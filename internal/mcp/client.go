package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/watchkeeper/watchkeeper/internal/version"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Remote is one MCP server whose tools the agent may use.
type Remote struct {
	// Name prefixes its tools: NAME__TOOL (lower-case letters, digits
	// and _).
	Name string
	// Command and Args start it over stdio; Env is added to the
	// environment Watchkeeper runs in.
	Command string
	Args    []string
	Env     map[string]string
	// URL is its streamable HTTP endpoint; Headers go with every request.
	URL     string
	Headers map[string]string
	// HTTP is the client for URL (nil: one with Timeout and a cap on
	// responses).
	HTTP *http.Client
	// AllowTools, when set, are the only tools used; DenyTools never.
	AllowTools, DenyTools []string
	// ReadOnly declares its tools free of side effects: they run when
	// called. Otherwise a call is a proposal a person approves.
	ReadOnly bool
	// Timeout bounds connecting and each call (default 30s).
	Timeout time.Duration
	// MaxResultBytes bounds what one call may return (default 1 MiB);
	// more is a tool error, not a flood into the model's context.
	MaxResultBytes int
	Logger         *slog.Logger
}

const (
	defaultRemoteTimeout  = 30 * time.Second
	defaultMaxResultBytes = 1 << 20
	// Separator joins a server's name and its tool's: the model APIs
	// allow ^[a-zA-Z0-9_-]{1,64}$ in function names, so no dot.
	Separator = "__"
)

// Client is the connection to one remote server. It reconnects on the
// next call after the server died, and says how it is (Health). Safe for
// concurrent use.
type Client struct {
	r Remote

	mu      sync.Mutex
	session *sdk.ClientSession
	// err is why the server is not usable now (nil: connected); health
	// mirrors it for Health, which must not wait for a connection under
	// way (/readyz asks it).
	err    error
	health atomic.Pointer[error]
	// closed: Close was called; nothing reconnects after it.
	closed bool
	// ended is closed when the current session ends, however it does.
	ended chan struct{}
	// tools are the remote tools allowed, by their remote names.
	tools []*sdk.Tool
	// overflows counts HTTP responses cut at maxResponseBytes, so that a
	// call the cut failed says why.
	overflows atomic.Int64
	// resources: the server offers resources (NAME__resources reads them).
	resources bool
}

// Connect starts or reaches the server and lists its tools. The error says
// what failed; the caller reports it and runs on without the server.
func Connect(ctx context.Context, r Remote) (*Client, error) {
	if r.Timeout <= 0 {
		r.Timeout = defaultRemoteTimeout
	}
	if r.MaxResultBytes <= 0 {
		r.MaxResultBytes = defaultMaxResultBytes
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{r: r}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connectLocked(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// setErr records why the server is not usable (nil: it is); c.mu is held.
func (c *Client) setErr(err error) error {
	c.err = err
	c.health.Store(&err)
	return err
}

// connectLocked (re)connects and lists the tools; c.mu is held.
func (c *Client) connectLocked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.r.Timeout)
	defer cancel()
	if c.closed {
		return c.setErr(fmt.Errorf("mcp server %s: closed", c.r.Name))
	}
	t, err := c.transport()
	if err != nil {
		return c.setErr(err)
	}
	cl := sdk.NewClient(&sdk.Implementation{Name: "watchkeeper", Version: version.Version()},
		// No roots, sampling or elicitation: a remote server gets tools
		// called, nothing of Watchkeeper's own.
		&sdk.ClientOptions{Capabilities: &sdk.ClientCapabilities{}})
	s, err := cl.Connect(ctx, t, nil)
	if err != nil {
		return c.setErr(fmt.Errorf("mcp server %s: connect: %w", c.r.Name, err))
	}
	var list []*sdk.Tool
	for tool, err := range s.Tools(ctx, nil) {
		if err != nil {
			s.Close()
			return c.setErr(fmt.Errorf("mcp server %s: list its tools: %w", c.r.Name, err))
		}
		if c.allowed(tool.Name) {
			list = append(list, tool)
		}
		if len(list) > 500 {
			break
		}
	}
	if c.session != nil {
		c.session.Close()
	}
	c.session, c.tools = s, list
	c.setErr(nil)
	c.resources = false
	if ir := s.InitializeResult(); ir != nil && ir.Capabilities != nil && ir.Capabilities.Resources != nil {
		c.resources = true
	}
	// However the session ends (the process exits, the line limit, the
	// server closes), Health says so at once and the next call reconnects.
	ended := make(chan struct{})
	c.ended = ended
	go func() {
		err := s.Wait()
		close(ended)
		if err == nil {
			err = errors.New("the session ended")
		}
		c.markDead(s, err)
	}()
	return nil
}

func (c *Client) transport() (sdk.Transport, error) {
	if c.r.URL != "" {
		hc := c.r.HTTP
		if hc == nil {
			hc = &http.Client{Timeout: 0} // per call: the context's deadline
		}
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		headers, err := expandHeaders(c.r.Headers)
		if err != nil {
			return nil, fmt.Errorf("mcp server %s: %w", c.r.Name, err)
		}
		u, err := url.Parse(c.r.URL)
		if err != nil {
			return nil, fmt.Errorf("mcp server %s: url: %w", c.r.Name, err)
		}
		hc = &http.Client{Transport: headerTransport{base: base, host: u.Host, headers: headers, overflows: &c.overflows}, Timeout: hc.Timeout,
			CheckRedirect: sameHost(u.Host), Jar: hc.Jar}
		// No standalone event stream: Watchkeeper only calls tools, and
		// every response then belongs to one call, whose size is bounded.
		return &sdk.StreamableClientTransport{Endpoint: c.r.URL, HTTPClient: hc, MaxRetries: 1, DisableStandaloneSSE: true}, nil
	}
	path, err := exec.LookPath(c.r.Command)
	if err != nil {
		return nil, fmt.Errorf("mcp server %s: %w", c.r.Name, err)
	}
	cmd := exec.Command(path, c.r.Args...)
	// Not Watchkeeper's environment — it holds the model's key, Slack's
	// tokens and cloud credentials — only what a program needs to run,
	// and what the configuration gives this server.
	for _, k := range []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range c.r.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Its stderr is its log: kept out of the protocol, in Watchkeeper's.
	cmd.Stderr = logWriter{logger: c.r.Logger, server: c.r.Name}
	return &sdk.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil
}

// envRef is a ${NAME} in a header's value.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandHeaders reads ${NAME} values from the environment, so tokens stay
// out of the configuration file; any other "$" is kept as written, and a
// variable that is not set is an error rather than an empty token.
func expandHeaders(h map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(h))
	var missing []string
	for k, v := range h {
		out[k] = envRef.ReplaceAllStringFunc(v, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			val, ok := os.LookupEnv(name)
			if !ok {
				missing = append(missing, name)
			}
			return val
		})
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("headers: the environment variable %s is not set", strings.Join(slices.Compact(missing), ", "))
	}
	return out, nil
}

// sameHost refuses redirects to another host: the server's headers carry
// its credentials.
func sameHost(host string) func(*http.Request, []*http.Request) error {
	return func(r *http.Request, via []*http.Request) error {
		if r.URL.Host != host {
			return fmt.Errorf("redirected to %s, another host than the server's (%s); not followed", r.URL.Host, host)
		}
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return nil
	}
}

type headerTransport struct {
	base      http.RoundTripper
	host      string
	headers   map[string]string
	overflows *atomic.Int64
}

// maxResponseBytes bounds one HTTP response from a remote server, as the
// stdio transport bounds a message (16 MiB): a server answering with 50 MB
// fails the call instead of filling memory.
const maxResponseBytes = 16 << 20

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 && r.URL.Host == t.host {
		r = r.Clone(r.Context())
		for k, v := range t.headers {
			r.Header.Set(k, v)
		}
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxResponseBytes, overflows: t.overflows}
	return resp, nil
}

// cappedBody fails a read past its limit.
type cappedBody struct {
	io.ReadCloser
	left      int64
	overflows *atomic.Int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		if b.overflows != nil {
			b.overflows.Add(1)
		}
		return 0, fmt.Errorf("the response is over %d bytes", maxResponseBytes)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

type logWriter struct {
	logger *slog.Logger
	server string
}

func (w logWriter) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" {
			w.logger.Debug("mcp server log", "server", w.server, "line", truncateBytes(line, 2000))
		}
	}
	return len(p), nil
}

func (c *Client) allowed(name string) bool {
	if slices.Contains(c.r.DenyTools, name) {
		return false
	}
	return len(c.r.AllowTools) == 0 || slices.Contains(c.r.AllowTools, name)
}

// Name is the server's name.
func (c *Client) Name() string { return c.r.Name }

// Health is nil when the server is connected, otherwise why not. It does
// not wait for a connection under way.
func (c *Client) Health() error {
	if p := c.health.Load(); p != nil {
		return *p
	}
	return errors.New("not connected yet")
}

// Close ends the session (and stops a command) for good: no call
// reconnects after it.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.setErr(fmt.Errorf("mcp server %s: closed", c.r.Name))
	if c.session == nil {
		return nil
	}
	err := c.session.Close()
	c.session = nil
	return err
}

// validName is what the registry takes as a tool's name: the model APIs
// allow ^[a-zA-Z0-9_-]{1,64}$, Watchkeeper keeps to the lower-case subset.
var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// localName is the remote tool's name in the registry: SERVER__TOOL, the
// tool's name in lower case with every other character ("-", ".", "/")
// made "_".
func localName(server, tool string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(tool) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return server + Separator + b.String()
}

// Tools are the server's allowed tools as Watchkeeper tools, named
// SERVER__TOOL. A tool whose name cannot be made one the model APIs take
// (too long, or the same as another's once made so) is left out, and so
// said in skipped.
func (c *Client) Tools() (out []tools.Tool, skipped []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	taken := map[string]string{}
	for _, t := range c.tools {
		name := localName(c.r.Name, t.Name)
		switch prev, dup := taken[name]; {
		case !validName.MatchString(name):
			skipped = append(skipped, fmt.Sprintf("%s: %q cannot be named for the model APIs (%s: 64 characters at most, a letter first)", c.r.Name, t.Name, name))
			continue
		case dup:
			skipped = append(skipped, fmt.Sprintf("%s: %q and %q would both be %s", c.r.Name, prev, t.Name, name))
			continue
		}
		taken[name] = t.Name
		desc := t.Description
		if desc == "" {
			desc = t.Title
		}
		rt := remoteTool{c: c, remote: t.Name, spec: tools.Spec{Name: name, Parameters: convertSchema(t.InputSchema),
			Description: fmt.Sprintf("[from MCP server %s] %s", c.r.Name, truncateBytes(desc, 2000)),
			Mutating:    !c.r.ReadOnly, Evidence: tools.EvidenceText}}
		if c.r.ReadOnly {
			out = append(out, rt)
		} else {
			out = append(out, writeTool{rt})
		}
	}
	if name := c.r.Name + Separator + "resources"; c.resources && taken[name] == "" && validName.MatchString(name) {
		out = append(out, resourcesTool{c: c, name: name})
	}
	return out, skipped
}

// call runs the remote tool, reconnecting first when the server died. A
// read (retry) whose session ended under it — the server exited, or an
// earlier call's answer broke the connection after that call gave up — is
// made once more on a new session; a change never is.
func (c *Client) call(ctx context.Context, name string, args json.RawMessage, retry bool) (string, bool, error) {
	text, isErr, err := c.callOnce(ctx, name, args)
	if retry && errors.Is(err, errSessionEnded) && ctx.Err() == nil {
		c.r.Logger.Info("mcp server closed the connection; calling again on a new session", "server", c.r.Name, "tool", name)
		return c.callOnce(ctx, name, args)
	}
	return text, isErr, err
}

// errSessionEnded marks a call that failed because its session ended.
var errSessionEnded = errors.New("the session ended")

func (c *Client) callOnce(ctx context.Context, name string, args json.RawMessage) (string, bool, error) {
	s, ended, err := c.live(ctx)
	if err != nil {
		return "", false, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.r.Timeout)
	defer cancel()
	overflows := c.overflows.Load()
	res, err := s.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		switch {
		case c.overflows.Load() != overflows:
			return "", false, fmt.Errorf("mcp server %s answered %s with more than %d bytes; ask for less (a narrower query, a shorter range)",
				c.r.Name, name, maxResponseBytes)
		case sessionEnded(err, ended):
			c.markDead(s, err)
			return "", false, fmt.Errorf("mcp server %s closed the connection during the call (%v); it is restarted on the next call: %w", c.r.Name, err, errSessionEnded)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return "", false, fmt.Errorf("mcp server %s did not answer %s within %s", c.r.Name, name, c.r.Timeout)
		}
		// The error's words are the server's: data, not instructions.
		return "", false, fmt.Errorf("mcp server %s: %s failed: %s", c.r.Name, name, tools.Untrusted("mcp server "+c.r.Name, err.Error()))
	}
	text, err := resultText(res, c.r.MaxResultBytes)
	if err != nil {
		return "", false, fmt.Errorf("mcp server %s: %s: %w", c.r.Name, name, err)
	}
	return text, res.IsError, nil
}

func (c *Client) markDead(s *sdk.ClientSession, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == s {
		s.Close()
		c.session = nil
		c.setErr(fmt.Errorf("mcp server %s: the connection closed: %w", c.r.Name, err))
	}
}

// resultText is a result's content as text, within max bytes.
func resultText(res *sdk.CallToolResult, max int) (string, error) {
	var b strings.Builder
	for _, ct := range res.Content {
		switch v := ct.(type) {
		case *sdk.TextContent:
			b.WriteString(v.Text)
		case *sdk.ImageContent:
			fmt.Fprintf(&b, "[an image, %s, %d bytes, not shown]", v.MIMEType, len(v.Data))
		case *sdk.AudioContent:
			fmt.Fprintf(&b, "[audio, %s, not shown]", v.MIMEType)
		case *sdk.ResourceLink:
			fmt.Fprintf(&b, "[resource %s: %s]", v.Name, v.URI)
		case *sdk.EmbeddedResource:
			if v.Resource != nil {
				fmt.Fprintf(&b, "[resource %s]\n%s", v.Resource.URI, v.Resource.Text)
			}
		}
		b.WriteByte('\n')
		if b.Len() > max {
			return "", fmt.Errorf("the result is over %d bytes; ask for less (a narrower query, a shorter range)", max)
		}
	}
	if b.Len() == 0 || strings.TrimSpace(b.String()) == "" {
		if res.StructuredContent != nil {
			j, err := json.Marshal(res.StructuredContent)
			if err == nil {
				if len(j) > max {
					return "", fmt.Errorf("the result is over %d bytes; ask for less (a narrower query, a shorter range)", max)
				}
				b.Write(j)
			}
		}
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// remoteTool is a remote server's read-only tool.
type remoteTool struct {
	c      *Client
	remote string
	spec   tools.Spec
}

func (t remoteTool) Spec() tools.Spec { return t.spec }

func (t remoteTool) Run(ctx context.Context, args json.RawMessage) (tools.Result, error) {
	text, isErr, err := t.c.call(ctx, t.remote, args, true)
	if err != nil {
		return tools.Result{}, err
	}
	// What a remote server says is data, as a log line is: it cannot
	// instruct the model.
	marked := tools.Untrusted("mcp server "+t.c.r.Name, text)
	if isErr {
		return tools.Result{Error: "the tool failed: " + marked, Display: text}, nil
	}
	return tools.Result{Text: marked, Display: text}, nil
}

// writeTool is a remote tool not declared read-only: a call proposes it,
// and only an approval runs it.
type writeTool struct{ remoteTool }

// maxShownArgs is the most a proposal's arguments may be: an approver
// sees all of what runs, so arguments that cannot be shown in full are
// refused.
const maxShownArgs = 4000

func (t writeTool) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, args); err != nil {
		return tools.Errorf("arguments are not JSON: %v", err), nil
	}
	if compact.Len() > maxShownArgs {
		return tools.Errorf("the arguments are %d bytes; a change is proposed only with arguments an approver can read in full (%d at most)",
			compact.Len(), maxShownArgs), nil
	}
	return tools.Result{Proposal: &tools.Proposal{Tool: t.spec.Name,
		Summary: fmt.Sprintf("Call %s on MCP server %s", t.remote, t.c.r.Name),
		Details: fmt.Sprintf("MCP server %s, tool %s (not declared read-only, so it may change things), arguments:\n%s",
			t.c.r.Name, t.remote, compact.String()),
		Risk: "unknown: the server does not say what the tool changes", Args: args}}, nil
}

// Apply implements tools.Applier: the call, once a person approved it.
func (t writeTool) Apply(ctx context.Context, p tools.Proposal) (tools.Result, error) {
	text, isErr, err := t.c.call(ctx, t.remote, p.Args, false)
	if err != nil {
		return tools.Result{}, err
	}
	// What it answers reaches the conversation's memory: marked as the
	// server's, like any of its output.
	marked := tools.Untrusted("mcp server "+t.c.r.Name, text)
	if isErr {
		return tools.Result{Error: "the tool failed: " + marked, Display: text}, nil
	}
	return tools.Result{Text: marked, Display: text}, nil
}

// resourcesTool lists and reads a server's resources: data by the
// protocol's design (resources/read changes nothing), so it runs without
// approval whatever read_only says, and what it returns is untrusted.
type resourcesTool struct {
	c    *Client
	name string
}

func (t resourcesTool) Spec() tools.Spec {
	return tools.Spec{Name: t.name, Evidence: tools.EvidenceText,
		Description: fmt.Sprintf("[from MCP server %s] List the server's resources (documents, schemas, files it offers), "+
			"or read one by its uri.", t.c.r.Name),
		Parameters: tools.Object(map[string]*tools.Schema{
			"uri": tools.String("the resource to read, as listed; omit to list them"),
		})}
}

// maxResources bounds a listing.
const maxResources = 200

func (t resourcesTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct{ URI string }
	if err := json.Unmarshal(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	s, _, err := t.c.live(ctx)
	if err != nil {
		return tools.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.c.r.Timeout)
	defer cancel()
	var b strings.Builder
	if a.URI == "" {
		n := 0
		for r, err := range s.Resources(ctx, nil) {
			if err != nil {
				return tools.Result{}, fmt.Errorf("mcp server %s: list its resources: %w", t.c.r.Name, err)
			}
			if n++; n > maxResources {
				fmt.Fprintf(&b, "(more than %d; read one by its uri)\n", maxResources)
				break
			}
			fmt.Fprintf(&b, "- %s (%s)", r.URI, r.Name)
			if r.Description != "" {
				fmt.Fprintf(&b, ": %s", truncateBytes(r.Description, 300))
			}
			b.WriteByte('\n')
		}
		if n == 0 {
			b.WriteString("The server lists no resources.\n")
		}
	} else {
		res, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: a.URI})
		if err != nil {
			return tools.Errorf("mcp server %s cannot read %s: %s", t.c.r.Name, a.URI, tools.Untrusted("mcp server "+t.c.r.Name, err.Error())), nil
		}
		for _, rc := range res.Contents {
			switch {
			case rc.Text != "":
				b.WriteString(rc.Text)
			case len(rc.Blob) > 0:
				fmt.Fprintf(&b, "[%d bytes of %s, not shown]", len(rc.Blob), rc.MIMEType)
			}
			b.WriteByte('\n')
			if b.Len() > t.c.r.MaxResultBytes {
				return tools.Errorf("%s is over %d bytes; read a narrower resource", a.URI, t.c.r.MaxResultBytes), nil
			}
		}
	}
	text := strings.TrimRight(b.String(), "\n")
	return tools.Result{Text: tools.Untrusted("mcp server "+t.c.r.Name, text), Display: text}, nil
}

// sessionEnded tells a call that failed because its session ended (the
// server exited, a message over the line limit broke the connection) from
// one the server refused. The session's end may trail the call's error by
// a moment.
func sessionEnded(err error, ended <-chan struct{}) bool {
	if errors.Is(err, sdk.ErrConnectionClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	select {
	case <-ended:
		return true
	case <-time.After(200 * time.Millisecond):
		return false
	}
}

// live is the connected session, reconnecting when the server died, and
// the channel closed when that session ends.
func (c *Client) live(ctx context.Context) (*sdk.ClientSession, <-chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, fmt.Errorf("mcp server %s: closed", c.r.Name)
	}
	if c.session == nil || c.err != nil {
		if err := c.connectLocked(ctx); err != nil {
			return nil, nil, fmt.Errorf("%w (Watchkeeper tries again on the next call)", err)
		}
	}
	return c.session, c.ended, nil
}
