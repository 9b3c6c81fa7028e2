package chat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/chzyer/readline"
)

// errInterrupted is Ctrl-C at the prompt.
var errInterrupted = errors.New("interrupted")

// lineReader reads one line after showing a prompt.
type lineReader interface {
	Line(prompt string) (string, error)
	Close() error
}

// plainReader reads lines from a pipe or file. Only prompts that ask a
// question (the approval prompt) are shown, on w, so scripted output stays
// clean.
type plainReader struct {
	r *bufio.Reader
	w io.Writer
}

func newPlainReader(r io.Reader, w io.Writer) *plainReader {
	if r == nil {
		r = strings.NewReader("")
	}
	return &plainReader{r: bufio.NewReader(r), w: w}
}

func (p *plainReader) Line(prompt string) (string, error) {
	if prompt != "> " {
		fmt.Fprint(p.w, prompt)
	}
	line, err := p.r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if prompt != "> " {
			fmt.Fprintln(p.w)
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (p *plainReader) Close() error { return nil }

// editor is an interactive line editor with history.
type editor struct {
	rl *readline.Instance
}

func newEditor(cfg Config) (*editor, error) {
	rl, err := readline.NewEx(&readline.Config{
		Prompt:          "> ",
		HistoryFile:     cfg.HistoryFile,
		HistoryLimit:    1000,
		InterruptPrompt: "^C",
		EOFPrompt:       "",
		Stdout:          cfg.Out,
		Stderr:          cfg.Err,
		AutoComplete:    newCompleter(cfg),
	})
	if err != nil {
		return nil, fmt.Errorf("start line editing: %w", err)
	}
	return &editor{rl: rl}, nil
}

func (e *editor) Line(prompt string) (string, error) {
	e.rl.SetPrompt(prompt)
	line, err := e.rl.Readline()
	if errors.Is(err, readline.ErrInterrupt) {
		return "", errInterrupted
	}
	return line, err
}

func (e *editor) Close() error { return e.rl.Close() }
