package events

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if id := doc.(map[string]any)["$id"]; id != DataSchema {
		t.Errorf("schema $id = %v, want DataSchema %q", id, DataSchema)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(DataSchema, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(DataSchema)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, data []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// TestSchemaGolden keeps schema/event.v1.json true: every golden event is
// valid, with all delivery fields set and with them empty.
func TestSchemaGolden(t *testing.T) {
	s := compileSchema(t)
	for _, c := range goldenCases(t) {
		ev, m := parseDelivered(t, c.body)
		if err := validate(t, s, m.Data); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		ev.WebhookID, ev.Scheme = "", ""
		data, err := ev.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, s, data); err != nil {
			t.Errorf("%s without delivery fields: %v", c.name, err)
		}
	}
}

// TestSchemaRejects shows the schema is strict enough to catch drift.
func TestSchemaRejects(t *testing.T) {
	s := compileSchema(t)
	_, m := parseDelivered(t, []byte(`{"type":"interaction.requires_action","data":{"id":"i"},"user_metadata":{"a":1}}`))
	if err := validate(t, s, m.Data); err != nil {
		t.Fatalf("base event invalid: %v", err)
	}
	tests := []struct {
		name   string
		change func(map[string]any)
	}{
		{"unknown field", func(e map[string]any) { e["extra"] = 1 }},
		{"missing envelope", func(e map[string]any) { delete(e, "envelope") }},
		{"schema version 2", func(e map[string]any) { e["schema_version"] = "2" }},
		{"requires_action marked terminal", func(e map[string]any) { e["terminal"] = true }},
		{"wrong kind for type", func(e map[string]any) { e["kind"] = "batch" }},
		{"wrong outcome for type", func(e map[string]any) { e["outcome"] = "succeeded"; e["terminal"] = true }},
		{"unknown type with a known kind", func(e map[string]any) { e["type"] = "batch.paused" }},
		{"numeric error code", func(e map[string]any) { e["error_code"] = 3 }},
		{"empty job id", func(e map[string]any) { e["job_id"] = "" }},
		{"null user metadata", func(e map[string]any) { e["user_metadata"] = nil }},
		{"bad received_at", func(e map[string]any) { e["received_at"] = "yesterday" }},
		{"envelope not an object", func(e map[string]any) { e["envelope"] = "{}" }},
	}
	for _, tt := range tests {
		var e map[string]any
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatal(err)
		}
		tt.change(e)
		data, _ := json.Marshal(e)
		if err := validate(t, s, data); err == nil {
			t.Errorf("%s: schema accepted %s", tt.name, data)
		}
	}
}

// TestSchemaCoversEvent keeps the schema's properties equal to the JSON
// fields Event writes.
func TestSchemaCoversEvent(t *testing.T) {
	var doc struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	if err := json.Unmarshal(JSONSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	full, err := Parse([]byte(`{"type":"batch.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","user_metadata":{},"data":{"id":"b","output_file_uri":"u","file_name":"f","error_code":1,"error_message":"m"}}`))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := full.AppendJSON(nil)
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for k := range fields {
		if _, ok := doc.Properties[k]; !ok {
			t.Errorf("Event writes %q, the schema has no such property", k)
		}
	}
	for k := range doc.Properties {
		if _, ok := fields[k]; !ok {
			t.Errorf("schema property %q is never written", k)
		}
	}
	empty, _ := (&Event{}).AppendJSON(nil)
	var written map[string]any
	if err := json.Unmarshal(empty, &written); err != nil {
		t.Fatal(err)
	}
	for _, k := range doc.Required {
		if _, ok := written[k]; !ok {
			t.Errorf("required %q is omitted from a zero event", k)
		}
	}
}
