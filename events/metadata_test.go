package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/geminihook/geminihook/events"
)

func TestCheckMetadataKeys(t *testing.T) {
	for _, tt := range []struct {
		keys []string
		ok   bool
	}{
		{nil, true},
		{[]string{"tenant", "job_group", "env-1"}, true},
		{[]string{""}, false},
		{[]string{"a.b"}, false},
		{[]string{"with space"}, false},
		{[]string{"tenant", "tenant"}, false},
		{[]string{strings.Repeat("k", events.MaxMetadataKeyBytes+1)}, false},
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}, false},
	} {
		err := events.CheckMetadataKeys(tt.keys)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, events.ErrMetadataKey)) {
			t.Errorf("CheckMetadataKeys(%q) = %v, want ok %v", tt.keys, err, tt.ok)
		}
	}
}

func TestMessageWithMetadata(t *testing.T) {
	body := `{"type":"batch.succeeded","data":{"id":"batch_1","user_metadata":{"tenant":"acme","job_group":"nightly-eval","n":3,"nested":{"a":"b"},"long":"` + strings.Repeat("x", 2000) + `"}}}`
	ev, err := events.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	ev.WebhookID, ev.Scheme = "msg_1", "v1"
	plain, err := ev.Message()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ev.MessageWith([]string{"tenant", "job_group", "n", "nested", "absent", "long"})
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != string(plain.Data) {
		t.Error("MessageWith changed the event JSON")
	}
	want := map[string]string{"meta_tenant": "acme", "meta_job_group": "nightly-eval"}
	for k, v := range want {
		if m.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, m.Attributes[k], v)
		}
	}
	for _, k := range []string{"meta_n", "meta_nested", "meta_absent"} {
		if _, ok := m.Attributes[k]; ok {
			t.Errorf("attribute %s set for a non-string or absent value", k)
		}
	}
	if v := m.Attributes["meta_long"]; len(v) > events.MaxAttributeValueBytes || !strings.Contains(m.Attributes[events.AttrTruncated], "meta_long") {
		t.Errorf("long value: %d bytes, truncated list %q; want cut to %d and listed", len(v), m.Attributes[events.AttrTruncated], events.MaxAttributeValueBytes)
	}
	if len(m.Attributes) != len(plain.Attributes)+4 { // tenant, job_group, long, geminihook-truncated
		t.Errorf("MessageWith added %d attributes, want 4", len(m.Attributes)-len(plain.Attributes))
	}

	got, err := events.Decode(m.Data, m.Attributes)
	if err != nil {
		t.Fatal(err)
	}
	if got.Metadata["tenant"] != "acme" || got.Metadata["job_group"] != "nightly-eval" {
		t.Errorf("Decode Metadata = %v", got.Metadata)
	}
	if got, _ := events.Decode(plain.Data, plain.Attributes); got.Metadata != nil {
		t.Errorf("Decode of a message without lifted keys: Metadata = %v, want nil", got.Metadata)
	}
}
