package loggen

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// A header is a system's line layout: its logparser format and how a line
// is written around a message. Some layouts wrap the message in JSON or
// logfmt instead, with <Content> as the format.
type header struct {
	name   string
	format string
	// write returns the line of a message; t is the line's template
	// (for its level and component), now the time.
	write func(r *rand.Rand, now time.Time, t *template, msg string) string
}

var headers = []header{
	{"syslog", `<Month> <Day> <Time> <Host> <Service>(\[<Pid>\])?: <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			pid := ""
			if t.pid {
				pid = fmt.Sprintf("[%d]", 100+r.IntN(30000))
			}
			return fmt.Sprintf("%s %2d %s %s %s%s: %s", now.Format("Jan"), now.Day(), now.Format("15:04:05"), t.host, t.component, pid, msg)
		}},
	{"apache", `\[<Time>\] \[<Level>\] <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			return fmt.Sprintf("[%s] [%s] %s", now.Format("Mon Jan 02 15:04:05 2006"), t.level, msg)
		}},
	{"java", `<Date> <Time>,<Ms> <Level> \[<Thread>\] <Class>(\s\(<Where>\))?: <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			where := ""
			if t.pid {
				where = fmt.Sprintf(" (%s.java:%d)", t.component[len(t.component)-6:], 10+r.IntN(900))
			}
			thread := []string{"main", fmt.Sprintf("pool-%d-thread-%d", 1+r.IntN(3), 1+r.IntN(20)), "IPC Server handler 3 on 8020", "Executor task launch worker-0"}[r.IntN(4)]
			return fmt.Sprintf("%s,%03d %-5s [%s] %s%s: %s", now.Format("2006-01-02 15:04:05"), now.Nanosecond()/1e6, upper(t.level), thread, t.component, where, msg)
		}},
	{"pipe", `<Time>\|<Component>\|<Pid>\|<Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			return fmt.Sprintf("%s:%03d|%s|%d|%s", now.Format("20060102-15:04:05"), now.Nanosecond()/1e6, t.component, 30000000+r.IntN(3000), msg)
		}},
	{"proxy", `\[<Time>\] <Program> - <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			return fmt.Sprintf("[%s] %s - %s", now.Format("01.02 15:04:05"), skewed(r, appNames), msg)
		}},
	{"cloud", `<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<Req>\] <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			req := "-"
			if t.pid {
				req = fmt.Sprintf("req-%s %032x %032x - - -", uuid(r), r.Uint64(), r.Uint64())
			}
			return fmt.Sprintf("%s.log.1.%s %s %d %s %s [%s] %s", t.host, now.Format("2006-01-02_15:04:05"), now.Format("2006-01-02 15:04:05.000"), 2000+r.IntN(30000), upper(t.level), t.component, req, msg)
		}},
	{"servicing", `<Date> <Time>, <Level>                  <Component>    <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			return fmt.Sprintf("%s, %-21s %-6s %s", now.Format("2006-01-02 15:04:05"), capital(t.level), t.component, msg)
		}},
	{"mobile", `<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			return fmt.Sprintf("%s  %d  %d %s %s: %s", now.Format("01-02 15:04:05.000"), 1000+r.IntN(9000), 1000+r.IntN(9000), upper(t.level)[:1], t.component, msg)
		}},
	{"supercomputer", `<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			node := fmt.Sprintf("R%02d-M%d-N%d-C:J%02d-U%02d", r.IntN(64), r.IntN(2), r.IntN(16), r.IntN(18), r.IntN(12))
			label := "-"
			if t.level == "error" {
				label = "KERNDTLB"
			}
			return fmt.Sprintf("%s %d %s %s %s %s RAS %s %s %s", label, now.Unix(), now.Format("2006.01.02"), node, now.Format("2006-01-02-15.04.05.000000"), node, upper(t.component), upper(t.level), msg)
		}},
	{"threaded", `<Timestamp> (\[<Thread>\] )?<Level> <Logger> - <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			thread := ""
			if t.pid {
				thread = fmt.Sprintf("[worker-%d] ", r.IntN(8))
			}
			return fmt.Sprintf("%s %s%s %s - %s", now.Format(time.RFC3339Nano), thread, upper(t.level), t.component, msg)
		}},
	{"klog", `<Level><Date> <Time>\s+<Pid> <File>:<Line>\] <Content>`,
		func(r *rand.Rand, now time.Time, t *template, msg string) string {
			return fmt.Sprintf("%s%s %s %7d %s.go:%d] %s", upper(t.level)[:1], now.Format("0102"), now.Format("15:04:05.000000"), 1+r.IntN(99), lowerWord(t.component), 10+r.IntN(400), msg)
		}},
	{"plain", `<Content>`, func(r *rand.Rand, now time.Time, t *template, msg string) string { return msg }},
	{"json", `<Content>`, nil},   // written by jsonLine
	{"logfmt", `<Content>`, nil}, // written by logfmtLine
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return upper(s[:1]) + s[1:]
}

func lowerWord(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
