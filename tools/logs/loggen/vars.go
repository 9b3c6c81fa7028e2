package loggen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// A slot is a variable of a template: its kind fixes how values look,
// and some kinds keep a part constant (a key, a prefix) for the slot.
type slot struct {
	kind  int
	fixed string // key of key=value, prefix of glued numbers
	pool  []string
}

// Variable kinds, in the order of kinds below.
const (
	kInt = iota
	kBigInt
	kFloat
	kHex
	kBareHex
	kUUID
	kIP
	kIPPort
	kHostName
	kPath
	kWinPath
	kURL
	kDuration
	kSize
	kRequestID
	kTimestamp
	kDateTime
	kGlued
	kKeyValue
	kWord
	kQuoted
	kList
	kText
	numKinds
)

// kindWeights is how often each kind is drawn: numbers and identifiers
// most, words without digits and multi-word values less, as in real logs.
var kindWeights = [numKinds]float64{
	kInt: 10, kBigInt: 4, kFloat: 4, kHex: 2, kBareHex: 2, kUUID: 3, kIP: 4, kIPPort: 4, kHostName: 3,
	kPath: 4, kWinPath: 1, kURL: 2, kDuration: 4, kSize: 3, kRequestID: 2, kTimestamp: 2, kDateTime: 1,
	kGlued: 5, kKeyValue: 6, kWord: 8, kQuoted: 2, kList: 1, kText: 1,
}

var gluedPrefixes = []string{"blk_", "core.", "job_", "eth", "user", "node-", "task_", "attempt_", "sda", "wl", "pid", "tid:", "vm-", "shard-", "part-", "gen"}
var keys = []string{"uid", "pid", "status", "code", "size", "len", "count", "id", "port", "retries", "latency", "bytes", "offset", "epoch", "seq", "rc", "time", "duration", "attempt", "tries"}
var wordPools = [][]string{userNames, serviceNms, stateWords, levelWords, hostWords, classNames, fileNames, appNames, packages}

func pickKind(r *rand.Rand) int {
	total := 0.0
	for _, w := range kindWeights {
		total += w
	}
	x := r.Float64() * total
	for k, w := range kindWeights {
		if x < w {
			return k
		}
		x -= w
	}
	return kInt
}

func newSlot(r *rand.Rand) slot {
	s := slot{kind: pickKind(r)}
	switch s.kind {
	case kGlued:
		s.fixed = gluedPrefixes[r.IntN(len(gluedPrefixes))]
	case kKeyValue:
		s.fixed = keys[r.IntN(len(keys))]
		if r.IntN(4) == 0 {
			s.fixed = words[r.IntN(len(words))]
		}
	case kWord, kQuoted:
		s.fixed = []string{`'`, `"`}[r.IntN(2)] // a quoted slot keeps its quotes
		s.pool = wordPools[r.IntN(len(wordPools))]
		// A pool of two values (true/false) is a variable only if it
		// can take many: keep word slots on the larger pools mostly.
		if len(s.pool) < 3 && r.IntN(2) == 0 {
			s.pool = userNames
		}
	}
	return s
}

// value draws a value of the slot. Values within a pool are skewed, as
// real ones are (root logs in more than peggy).
func (s slot) value(r *rand.Rand) string {
	switch s.kind {
	case kInt:
		return fmt.Sprint(r.IntN(100))
	case kBigInt:
		if r.IntN(5) == 0 {
			return fmt.Sprint(-r.Int64N(1e12))
		}
		return fmt.Sprint(r.Int64N(1e12))
	case kFloat:
		return fmt.Sprintf("%.*f", 1+r.IntN(4), r.Float64()*1000)
	case kHex:
		return fmt.Sprintf("0x%x", r.Uint32())
	case kBareHex:
		return fmt.Sprintf("%07x", r.Uint32()>>4)
	case kUUID:
		return uuid(r)
	case kIP:
		return ip(r)
	case kIPPort:
		return fmt.Sprintf("%s:%d", ip(r), 1024+r.IntN(60000))
	case kHostName:
		switch r.IntN(3) {
		case 0:
			return fmt.Sprintf("ip-10-%d-%d-%d.ec2.internal", r.IntN(256), r.IntN(256), r.IntN(256))
		case 1:
			return fmt.Sprintf("%s.%s.example.com", skewed(r, hostWords), skewed(r, serviceNms))
		}
		return fmt.Sprintf("node%d.cluster.local", r.IntN(64))
	case kPath:
		var b strings.Builder
		for i := range 1 + r.IntN(4) {
			b.WriteByte('/')
			b.WriteString(words[r.IntN(len(words))])
			if i > 0 && r.IntN(3) == 0 {
				fmt.Fprint(&b, r.IntN(1000))
			}
		}
		if r.IntN(2) == 0 {
			b.WriteString("/" + skewed(r, fileNames))
		}
		return b.String()
	case kWinPath:
		return fmt.Sprintf(`C:\Windows\%s\%s_%x\%s.dll`, words[r.IntN(len(words))], skewed(r, serviceNms), r.Uint32(), words[r.IntN(len(words))])
	case kURL:
		return fmt.Sprintf("https://%s.example.com/%s/%s?id=%d", skewed(r, serviceNms), words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(1e6))
	case kDuration:
		switch r.IntN(5) {
		case 0:
			return fmt.Sprintf("%dms", r.IntN(5000))
		case 1:
			return fmt.Sprintf("%.2fs", r.Float64()*30)
		case 2:
			return fmt.Sprintf("%d %s", r.IntN(900), []string{"ms", "s", "sec", "us"}[r.IntN(4)])
		case 3:
			return fmt.Sprintf("%02d:%02d", r.IntN(60), r.IntN(60))
		}
		if r.IntN(2) == 0 {
			return "<1 sec"
		}
		return fmt.Sprintf("%dm%ds", r.IntN(60), r.IntN(60))
	case kSize:
		unit := []string{"B", "KB", "MB", "GB", "KiB", "MiB"}[r.IntN(6)]
		if r.IntN(2) == 0 {
			return fmt.Sprintf("%.2f%s", r.Float64()*1000, unit)
		}
		return fmt.Sprintf("%d %s", r.IntN(100000), unit)
	case kRequestID:
		return "req-" + uuid(r)
	case kTimestamp:
		return fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000))
	case kDateTime:
		return fmt.Sprintf("%s %s %2d %02d:%02d:%02d %d", weekdays[r.IntN(7)], months[r.IntN(12)], 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 2000+r.IntN(26))
	case kGlued:
		return fmt.Sprintf("%s%d", s.fixed, r.IntN(100000))
	case kKeyValue:
		return fmt.Sprintf("%s=%d", s.fixed, r.IntN(10000))
	case kWord:
		return skewed(r, s.pool)
	case kQuoted:
		return s.fixed + skewed(r, s.pool) + s.fixed
	case kList:
		n := 1 + r.IntN(4)
		sep := []string{" ", ", ", ","}[r.IntN(3)]
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf("blk_%d", r.Int64N(1e10))
		}
		return strings.Join(items, sep)
	case kText:
		return skewed(r, phrases)
	}
	panic("unknown kind")
}

var (
	weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	months   = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// skewed draws from a pool with the first values the most frequent.
func skewed(r *rand.Rand, pool []string) string {
	i := int(float64(len(pool)) * r.Float64() * r.Float64())
	return pool[min(i, len(pool)-1)]
}

func uuid(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
}

func ip(r *rand.Rand) string {
	return fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
}
