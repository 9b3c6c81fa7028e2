package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxStdioLine bounds one message over stdio. A call's arguments are
// bounded far lower (ServerConfig.MaxArgumentBytes); past this a line is
// answered with an error and skipped, not buffered.
const maxStdioLine = 4 << 20

// ServeStdio serves srv over newline-delimited JSON-RPC on in and out
// until in ends or ctx does. A line that is not a JSON-RPC message — bad
// JSON, a batch, an object that is no request, a line over 4 MiB — is
// answered with a JSON-RPC error and skipped: the SDK would end the
// session on it, and over stdio the session is the process.
func ServeStdio(ctx context.Context, srv *sdk.Server, in io.Reader, out io.Writer) error {
	w := &lineWriter{w: out}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(filterLines(in, pw, w)) }()
	err := srv.Run(ctx, &sdk.IOTransport{Reader: pr, Writer: w})
	pr.Close()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}

// lineWriter serialises whole messages from the SDK and from the filter.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lineWriter) Close() error { return nil }

// filterLines copies the JSON-RPC messages of in to dst, one per line, and
// answers the rest on w. It returns nil at the end of in.
func filterLines(in io.Reader, dst io.Writer, w io.Writer) error {
	br := bufio.NewReaderSize(in, 64<<10)
	for {
		line, tooLong, err := readLine(br)
		if len(bytes.TrimSpace(line)) > 0 || tooLong {
			if msg := check(line, tooLong); msg != nil {
				if _, werr := w.Write(msg); werr != nil {
					return werr
				}
			} else if _, werr := dst.Write(append(bytes.TrimSpace(line), '\n')); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine reads one line without its newline; past maxStdioLine it
// discards the rest and says so.
func readLine(br *bufio.Reader) ([]byte, bool, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) <= maxStdioLine {
			line = append(line, chunk...)
		} else {
			// Drain to the end of the line, keeping nothing.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			return nil, true, err
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), false, err
	}
}

// check returns the error response for a line that is no JSON-RPC
// message, or nil for one the SDK may read.
func check(line []byte, tooLong bool) []byte {
	const (
		parseError     = -32700
		invalidRequest = -32600
	)
	switch trimmed := bytes.TrimSpace(line); {
	case tooLong:
		return errorLine(nil, invalidRequest, fmt.Sprintf("the message is over %d bytes; nothing was done", maxStdioLine))
	case !json.Valid(trimmed):
		return errorLine(nil, parseError, "parse error: the line is not JSON; send one JSON-RPC message per line")
	case trimmed[0] == '[':
		return errorLine(nil, invalidRequest, "batches are not supported; send one JSON-RPC message per line")
	default:
		if _, err := jsonrpc.DecodeMessage(trimmed); err != nil {
			var probe struct {
				ID json.RawMessage `json:"id"`
			}
			_ = json.Unmarshal(trimmed, &probe)
			return errorLine(probe.ID, invalidRequest, "invalid request: "+err.Error())
		}
	}
	return nil
}

func errorLine(id json.RawMessage, code int, msg string) []byte {
	if len(id) == 0 || !json.Valid(id) {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}})
	return append(b, '\n')
}
