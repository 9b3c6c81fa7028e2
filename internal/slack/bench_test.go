package slack_test

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
)

// BenchmarkAckBurst sends bursts of 500 Socket Mode envelopes (channel
// messages the bot must look at and mostly ignore, with a mention every
// 50th) and reports the acknowledgement latency Slack sees, p50 and p99,
// and the heap in use after the burst.
func BenchmarkAckBurst(b *testing.B) {
	h := newBenchHarness(b)
	const burst = 500
	var lat []time.Duration
	var heap uint64
	for b.Loop() {
		b.StopTimer()
		frames := make([]slackfake.Frame, 0, burst)
		for i := range burst {
			var ev map[string]any
			ts := h.fake.UserMessage(chOps, bob, "chatter", "")
			if i%50 == 0 {
				ev = slackfake.Mention(chOps, bob, ts, "", "status?")
			} else {
				ev = slackfake.ChannelMessage(chOps, "channel", bob, ts, "", "chatter")
			}
			fr, err := h.fake.PrepareEvent(ev)
			if err != nil {
				b.Fatal(err)
			}
			frames = append(frames, fr)
		}
		b.StartTimer()
		if err := h.fake.SendFrames(frames); err != nil {
			b.Fatal(err)
		}
		for _, fr := range frames {
			d, err := h.fake.WaitAck(fr.ID, 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, d)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = max(heap, ms.HeapInuse)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
}
