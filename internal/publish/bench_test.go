package publish

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/emulator"
)

// BenchmarkPublish measures one publish awaited to its server ID, as the
// webhook handler does, with the settings New uses ("latency") beside the
// client library's defaults ("default", the baseline) and a small batching
// window ("delay=1ms"), on pstest (in process) and on the official
// emulator (a JVM over loopback; skipped when not installed). "serial" is
// one request at a time (the time a webhook waits); "parallel" is
// GOMAXPROCS*8 concurrent requests (ns/op is then throughput).
//
//	go test -run '^$' -bench Publish -count 6 ./internal/publish/ > b.txt
//	benchstat -col /settings b.txt
func BenchmarkPublish(b *testing.B) {
	b.Run("server=pstest", func(b *testing.B) {
		benchSettings(b, func(b *testing.B) *pubsub.Client {
			_, c := newServer(b)
			return c
		})
	})
	b.Run("server=emulator", func(b *testing.B) {
		benchSettings(b, func(b *testing.B) *pubsub.Client {
			emu := emulator.PubSub(b)
			c, err := pubsub.NewClient(context.Background(), emulator.ProjectID(b), emu.ClientOptions(b, nil)...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			return c
		})
	})
}

func benchSettings(b *testing.B, client func(*testing.B) *pubsub.Client) {
	latency := pubsub.DefaultPublishSettings
	latency.DelayThreshold, latency.CountThreshold, latency.Timeout = 0, 1, DefaultTimeout
	delay1ms := pubsub.DefaultPublishSettings
	delay1ms.DelayThreshold, delay1ms.Timeout = time.Millisecond, DefaultTimeout
	configs := []struct {
		name string
		s    pubsub.PublishSettings
	}{
		{"default", pubsub.DefaultPublishSettings},
		{"latency", latency},
		{"delay=1ms", delay1ms},
	}
	m := events.Message{
		Data:       make([]byte, 2048), // a typical normalized event
		Attributes: map[string]string{"ce-specversion": "1.0", "ce-id": "msg_0123456789", "job_kind": "batch", "event_type": "batch.succeeded"},
	}
	for _, cfg := range configs {
		b.Run("settings="+cfg.name, func(b *testing.B) {
			c := client(b)
			ensure(b, c, "events")
			p, err := newPublisher(c, Options{Topic: "events"}, cfg.s)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(p.Close)
			b.Run("serial", func(b *testing.B) {
				for b.Loop() {
					if _, err := p.Publish(b.Context(), events.KindBatch, m); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := p.Publish(b.Context(), events.KindBatch, m); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
