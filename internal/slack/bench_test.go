package slack_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
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

// BenchmarkHTTPAckBurst posts bursts of 500 signed Events API requests
// (16 at a time) and reports the response latency, p50 and p99.
func BenchmarkHTTPAckBurst(b *testing.B) {
	h := newHarness(b, harnessOpts{noModel: true, quiet: true, mode: "http"})
	srv := httptest.NewServer(h.bot.Handler())
	defer srv.Close()
	const burst, par = 500, 16
	var lat []time.Duration
	var mu sync.Mutex
	for b.Loop() {
		b.StopTimer()
		bodies := make([][]byte, burst)
		for i := range bodies {
			ts := h.fake.UserMessage(chOps, bob, "chatter", "")
			bodies[i], _ = json.Marshal(slackfake.EventCallback(slackfake.ChannelMessage(chOps, "channel", bob, ts, "", "chatter")))
		}
		b.StartTimer()
		var wg sync.WaitGroup
		next := make(chan []byte, burst)
		for _, body := range bodies {
			next <- body
		}
		close(next)
		for range par {
			wg.Go(func() {
				for body := range next {
					now := time.Now()
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/slack/events", bytes.NewReader(body))
					req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix(), 10))
					req.Header.Set("X-Slack-Signature", slackfake.Sign(signingSecret, now.Unix(), body))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
					}
					d := time.Since(now)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
