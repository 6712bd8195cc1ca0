package cloudlog

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzAppendString: every string becomes a valid JSON string that decodes
// to what encoding/json makes of it (invalid UTF-8 → U+FFFD per byte).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\x7f", "a\xffb", "\u2028\u2029", "😀", "\xed\xa0\x80", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, b, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("appendString(%q) decodes to %q, want %q", s, got, want)
		}
	})
}

// FuzzWithTrace: whatever the headers, an accepted trace is 32 lower-case
// hex digits (not all zero) and a span is 16, so the line stays valid.
func FuzzWithTrace(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "")
	f.Add("", "4bf92f3577b34da6a3ce929d0e0e4736/123;o=1")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x", "4BF92F3577B34DA6A3CE929D0E0E4736")
	f.Add("ff-", "/;o=")
	f.Fuzz(func(t *testing.T, tp, cloud string) {
		for _, parse := range []func([]string) (*trace, bool){parseTraceparent, parseCloudTrace} {
			for _, v := range []string{tp, cloud} {
				tr, ok := parse([]string{v})
				if !ok {
					continue
				}
				if len(tr.id) != 32 || !isLowerHex(tr.id) || allZero(tr.id) {
					t.Fatalf("%q: trace id %q", v, tr.id)
				}
				if tr.span != "" && (len(tr.span) != 16 || !isLowerHex(tr.span)) {
					t.Fatalf("%q: span %q", v, tr.span)
				}
			}
		}
		h := http.Header{}
		if tp != "" {
			h.Set("Traceparent", tp)
		}
		if cloud != "" {
			h.Set("X-Cloud-Trace-Context", cloud)
		}
		_ = WithTrace(t.Context(), h)
	})
}
