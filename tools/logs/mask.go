package logs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrUnsupportedMask is wrapped by CompileMask's error for a mask that is
// valid in Python's re, the dialect benchmark settings are written in,
// but uses what RE2 lacks (look-around, back-references). Callers may
// mine without it: masks are hints.
var ErrUnsupportedMask = errors.New("mask uses look-around or a back-reference, which RE2 does not support")

// CompileMask compiles a --mask regular expression (Python/RE2 syntax).
func CompileMask(expr string) (*regexp.Regexp, error) {
	for _, py := range []string{"(?=", "(?!", "(?<=", "(?<!", "(?P=", "(?#"} {
		if strings.Contains(expr, py) {
			return nil, fmt.Errorf("mask %q: %w", expr, ErrUnsupportedMask)
		}
	}
	for i := 0; i+1 < len(expr); i++ {
		if expr[i] == '\\' {
			if c := expr[i+1]; c >= '1' && c <= '9' {
				return nil, fmt.Errorf("mask %q: %w", expr, ErrUnsupportedMask)
			}
			i++
		}
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("mask %q is not a regular expression (RE2 syntax): %w", expr, err)
	}
	return re, nil
}
