package logs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/tools/logs/loggen"
)

// serviceLines are typical service logs: logfmt and JSON request lines,
// errors, and a few rarer messages, with realistic variable fields.
func serviceLines(n int) []string {
	out := make([]string, n)
	for i := range out {
		switch i % 10 {
		case 0, 1, 2, 3:
			out[i] = fmt.Sprintf(`level=info msg="request completed" method=GET path=/product/%08X status=200 duration_ms=%d.%d trace_id=%016x`, i*7919, 10+i%90, i%10, uint64(i)*0x9e3779b97f4a7c15)
		case 4, 5:
			out[i] = fmt.Sprintf(`{"time":"2026-11-24T14:%02d:%02d.%03dZ","level":"info","service":"frontend","msg":"request","status":200,"duration_ms":%d}`, i%60, (i/60)%60, i%1000, i%300)
		case 6:
			out[i] = fmt.Sprintf("Accepted connection from 10.%d.%d.%d:%d for user svc-%d", i%250, (i/250)%250, i%7, 30000+i%20000, i%40)
		case 7:
			out[i] = fmt.Sprintf(`level=error msg="request failed" error="dial tcp 10.96.%d.%d:6379: connect: connection refused" retry=%d`, i%200, i%100, i%5)
		case 8:
			out[i] = fmt.Sprintf("Cache %s evicted %d entries in %d ms", []string{"sessions", "carts", "products"}[i%3], i%1000, i%50)
		default:
			out[i] = fmt.Sprintf("GC pause %dms heap=%dMB goroutines=%d", i%40, 100+i%900, 50+i%400)
		}
	}
	return out
}

// BenchmarkMine measures pattern mining on one core: finding the message
// of a structured (JSON, logfmt) line and mining it, ns per line, and
// lines per second as a metric.
func BenchmarkMine(b *testing.B) {
	lines := serviceLines(100_000)
	b.ReportAllocs()
	m := NewMiner(MinerConfig{})
	i := 0
	for b.Loop() {
		msg, _ := StructuredMessage(lines[i%len(lines)])
		m.Add(msg)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(len(m.Templates())), "templates")
}

// BenchmarkParseLines measures what `analyze logs` does with a file: read,
// take the content by the format, mine, and refine with the whole file in
// view. The input is generated systems of the suite, 2,000 lines each
// (syslog with an optional group in its format, JSON, a Java layout),
// and one of 100,000 lines.
func BenchmarkParseLines(b *testing.B) {
	for _, n := range []int{0, 12, 2} {
		s := loggen.Generate(1, n)
		b.Run(fmt.Sprintf("%s-%dlines", s.Name, len(s.Lines)), func(b *testing.B) { benchParse(b, s.Format, s.Lines) })
	}
	s := loggen.Generate(1, 11)
	var big []string
	for len(big) < 100_000 {
		big = append(big, s.Lines...)
	}
	b.Run(fmt.Sprintf("%s-%dlines", s.Name, len(big)), func(b *testing.B) { benchParse(b, s.Format, big) })
}

func benchParse(b *testing.B, format string, lines []string) {
	f, err := ParseFormat(format)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Join(lines, "\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLines(strings.NewReader(text), f, MinerConfig{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
}
