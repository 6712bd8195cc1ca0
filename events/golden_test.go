package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden.json from the current code")

// Fixed delivery facts of the golden files.
const (
	goldenWebhookID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	goldenScheme    = "v1"
)

var goldenReceivedAt = time.Date(2026, 1, 22, 12, 0, 1, 500_000_000, time.UTC)

type goldenCase struct {
	name string
	body []byte
}

// goldenCases reads testdata/golden/*.in.json: one Gemini body per case.
func goldenCases(tb testing.TB) []goldenCase {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*.in.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no golden inputs: %v", err)
	}
	var cases []goldenCase
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		cases = append(cases, goldenCase{strings.TrimSuffix(filepath.Base(p), ".in.json"), body})
	}
	return cases
}

// parseDelivered is the handler's sequence with the golden delivery facts.
func parseDelivered(tb testing.TB, body []byte) (*Event, Message) {
	tb.Helper()
	ev, err := Parse(body)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	ev.WebhookID, ev.Scheme, ev.ReceivedAt = goldenWebhookID, goldenScheme, goldenReceivedAt
	m, err := ev.Message()
	if err != nil {
		tb.Fatalf("Message: %v", err)
	}
	return ev, m
}

// renderGolden shows a message for review: attributes sorted, data
// re-indented (the exact data bytes are checked separately).
func renderGolden(tb testing.TB, m Message) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Attributes map[string]string `json:"attributes"`
		Data       json.RawMessage   `json:"data"`
	}{m.Attributes, m.Data}); err != nil {
		tb.Fatalf("render: %v", err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ev, m := parseDelivered(t, c.body)

			// The envelope is the body byte for byte, and so is its copy
			// inside the data.
			env := bytes.Trim(c.body, " \t\r\n")
			if !bytes.Equal(ev.Envelope, env) {
				t.Errorf("Envelope = %q, want the body %q", ev.Envelope, env)
			}
			if !bytes.HasSuffix(m.Data, append(append([]byte(`,"envelope":`), env...), '}')) {
				t.Errorf("data does not end with the envelope verbatim: %q", m.Data)
			}
			if !json.Valid(m.Data) {
				t.Fatalf("data is not valid JSON: %q", m.Data)
			}
			checkLimits(t, m)

			got := renderGolden(t, m)
			path := filepath.Join("testdata", "golden", c.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./events -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the code's output; diff with -update and review:\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}

// TestGoldenOrphans fails on a golden file without its input, so a renamed
// case does not leave a stale expectation behind.
func TestGoldenOrphans(t *testing.T) {
	inputs := map[string]bool{}
	for _, c := range goldenCases(t) {
		inputs[c.name] = true
	}
	outs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.golden.json"))
	var orphans []string
	for _, p := range outs {
		if name := strings.TrimSuffix(filepath.Base(p), ".golden.json"); !inputs[name] {
			orphans = append(orphans, p)
		}
	}
	sort.Strings(orphans)
	if len(orphans) > 0 {
		t.Errorf("golden files without input: %v", orphans)
	}
	if len(outs) != len(inputs) {
		t.Errorf("%d golden files for %d inputs (run with -update)", len(outs), len(inputs))
	}
}
