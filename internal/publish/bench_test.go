package publish

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/emulator"
)

// BenchmarkPublish measures one publish awaited to its server ID, as the
// webhook handler does: "path=unary" is New's (one TopicAdminClient.Publish
// call under the caller's context) and the baselines are the batching
// *pubsub.Publisher this package used before (batchingPublisher) with the
// settings it used ("batching-latency": CountThreshold 1, no delay), with
// the library's defaults ("batching-default": up to 10 ms for more
// messages) and with a 1 ms window ("batching-delay=1ms"). Servers: pstest
// (in process) and the official emulator (a JVM over loopback; skipped when
// not installed). "serial" is one request at a time (the time a webhook
// waits); "parallel" is GOMAXPROCS*8 concurrent requests (ns/op is then
// throughput). cpu-ns/op is the process's CPU time (user and system) per
// publish, pstest included when it is the server.
//
//	go test -run '^$' -bench Publish -count 6 ./internal/publish/ > b.txt
//	benchstat -col /path b.txt
func BenchmarkPublish(b *testing.B) {
	b.Run("server=pstest", func(b *testing.B) {
		benchPaths(b, func(b *testing.B) *pubsub.Client {
			_, c := newServer(b)
			return c
		})
	})
	b.Run("server=emulator", func(b *testing.B) {
		var warm sync.Once
		benchPaths(b, func(b *testing.B) *pubsub.Client {
			emu := emulator.PubSub(b)
			c, err := pubsub.NewClient(context.Background(), emulator.ProjectID(b), emu.ClientOptions(b, nil)...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			// The JVM's JIT would otherwise flatter whichever path runs
			// last: warm it up before the first measurement.
			warm.Do(func() { warmUp(b, c, 10*time.Second) })
			return c
		})
	})
}

// warmUp publishes through c for d.
func warmUp(b *testing.B, c *pubsub.Client, d time.Duration) {
	ensure(b, c, "warm-up")
	p := newTestPublisher(b, c, Options{Topic: "warm-up"})
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := p.Publish(b.Context(), events.KindBatch, events.Message{Data: make([]byte, 2048)}); err != nil {
			b.Fatal(err)
		}
	}
}

type publishFunc func(context.Context, events.Message) (string, error)

func benchPaths(b *testing.B, client func(*testing.B) *pubsub.Client) {
	delay1ms := pubsub.DefaultPublishSettings
	delay1ms.DelayThreshold, delay1ms.Timeout = time.Millisecond, DefaultTimeout
	batching := []struct {
		name string
		s    pubsub.PublishSettings
	}{
		{"batching-latency", batchingLatency()},
		{"batching-default", pubsub.DefaultPublishSettings},
		{"batching-delay=1ms", delay1ms},
	}
	m := events.Message{
		Data:       make([]byte, 2048), // a typical normalized event
		Attributes: map[string]string{"ce-specversion": "1.0", "ce-id": "msg_0123456789", "job_kind": "batch", "event_type": "batch.succeeded"},
	}
	b.Run("path=unary", func(b *testing.B) {
		c := client(b)
		ensure(b, c, "events")
		p := newTestPublisher(b, c, Options{Topic: "events"})
		benchPublish(b, m, func(ctx context.Context, m events.Message) (string, error) {
			return p.Publish(ctx, events.KindBatch, m)
		})
	})
	for _, cfg := range batching {
		b.Run("path="+cfg.name, func(b *testing.B) {
			c := client(b)
			ensure(b, c, "events")
			benchPublish(b, m, newBatchingPublisher(b, c, "events", cfg.s).Publish)
		})
	}
}

func benchPublish(b *testing.B, m events.Message, publish publishFunc) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		cpu0, ok := cpuTime()
		for b.Loop() {
			if _, err := publish(b.Context(), m); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu0, ok)
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		cpu0, ok := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := publish(b.Context(), m); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportCPU(b, cpu0, ok)
	})
}

// reportCPU reports the CPU time per operation since cpu0.
func reportCPU(b *testing.B, cpu0 time.Duration, ok bool) {
	cpu1, ok1 := cpuTime()
	if ok && ok1 && b.N > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}
