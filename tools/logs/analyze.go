package logs

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseResult is the template of every input line.
type ParseResult struct {
	// Lines holds, per input line in order, its template.
	Lines []*Template
}

// ParseLines reads lines from r (LF or CRLF, with or without a final
// newline), takes each line's Content by format (the whole line when it
// does not match), and mines templates.
func ParseLines(r io.Reader, format *Format, m *Miner) (ParseResult, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var res ParseResult
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimRight(line, "\r\n")
			content := line
			if format != nil {
				content = format.Content(line)
			}
			res.Lines = append(res.Lines, m.Add(content))
		}
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("read log lines: %w", err)
		}
	}
}

// WriteCSV writes LineId,EventId,EventTemplate, one row per line, with the
// templates as they are after all lines were mined.
func (p ParseResult) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"LineId", "EventId", "EventTemplate"}); err != nil {
		return err
	}
	for i, t := range p.Lines {
		if err := cw.Write([]string{strconv.Itoa(i + 1), "E" + strconv.Itoa(t.ID), t.String()}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
