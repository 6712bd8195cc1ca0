package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	tests := []struct {
		v    []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 90, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 90, 10 * time.Millisecond},
		{ms(1, 2, 3), 100, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.v, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.v, tt.p, got, tt.want)
		}
	}
}

func TestLoggedLatency(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want time.Duration
	}{
		{"none", "Serving function\n", -1},
		{"access line", `{"severity":"INFO","message":"delivery","latency_ms":12.5}` + "\n", 12500 * time.Microsecond},
		{"first of two", `{"latency_ms":3}` + "\n" + `{"latency_ms":9}` + "\n", 3 * time.Millisecond},
		{"not JSON before it", "panic: no\n" + `{"latency_ms":0.25}`, 250 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loggedLatency([]byte(tt.out)); got != tt.want {
				t.Errorf("loggedLatency(%q) = %v, want %v", tt.out, got, tt.want)
			}
		})
	}
}
