package events_test

// Interoperability with the CloudEvents Go SDK (github.com/cloudevents/sdk-go/v2),
// over a real Pub/Sub round trip (pstest, the Pub/Sub v2 client).
//
// The SDK's Pub/Sub transport is a module of its own
// (github.com/cloudevents/sdk-go/protocol/pubsub/v2) that the module proxy
// this repository builds from does not serve, so the test binds Pub/Sub
// messages to the SDK itself: psMessage and psWriter implement the SDK's
// binding interfaces (binding.Message, binding.BinaryWriter,
// binding.StructuredWriter) as the CloudEvents Pub/Sub protocol binding
// specifies, with the rules of the SDK's transport: attributes prefixed
// "ce-" are the context attributes and extensions, "Content-Type" (exactly
// so spelled) is datacontenttype in binary mode and selects the event format
// in structured mode, and a structured write sets only the data. Everything
// else (decoding, validation, the JSON event format) is the SDK's own code:
// binding.ToEvent, binding.Write, format.JSON.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/publish"
)

const (
	cePrefix          = "ce-"
	bindingContentKey = "Content-Type" // the binding's attribute, case-sensitive in Pub/Sub
)

var ceSpecs = spec.WithPrefix(cePrefix)

const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// psMessage is a received Pub/Sub message as an SDK binding.Message.
type psMessage struct {
	m       *pubsubpb.PubsubMessage
	format  format.Format // structured mode, from Content-Type
	version spec.Version  // binary mode, from ce-specversion
}

var _ binding.Message = (*psMessage)(nil)

func newPSMessage(m *pubsubpb.PubsubMessage) *psMessage {
	p := &psMessage{m: m}
	if ct := m.Attributes[bindingContentKey]; format.IsFormat(ct) {
		p.format = format.Lookup(ct)
	}
	if v := m.Attributes[ceSpecs.PrefixedSpecVersionName()]; v != "" {
		p.version = ceSpecs.Version(v)
	}
	return p
}

func (p *psMessage) ReadEncoding() binding.Encoding {
	switch {
	case p.version != nil:
		return binding.EncodingBinary
	case p.format != nil:
		return binding.EncodingStructured
	}
	return binding.EncodingUnknown
}

func (p *psMessage) ReadStructured(ctx context.Context, w binding.StructuredWriter) error {
	if p.version != nil || p.format == nil {
		return binding.ErrNotStructured
	}
	return w.SetStructuredEvent(ctx, p.format, bytes.NewReader(p.m.Data))
}

func (p *psMessage) ReadBinary(ctx context.Context, w binding.BinaryWriter) error {
	if p.version == nil {
		return binding.ErrNotBinary
	}
	for k, v := range p.m.Attributes {
		var err error
		switch name, ce := strings.CutPrefix(k, cePrefix); {
		case ce && p.version.Attribute(k) != nil:
			err = w.SetAttribute(p.version.Attribute(k), v)
		case ce:
			err = w.SetExtension(name, v)
		case k == bindingContentKey:
			err = w.SetAttribute(p.version.AttributeFromKind(spec.DataContentType), v)
		}
		if err != nil {
			return err
		}
	}
	if p.m.Data != nil {
		return w.SetData(bytes.NewReader(p.m.Data))
	}
	return nil
}

func (p *psMessage) GetAttribute(k spec.Kind) (spec.Attribute, any) {
	if a := p.version.AttributeFromKind(k); a != nil {
		return a, p.m.Attributes[cePrefix+a.Name()]
	}
	return nil, nil
}

func (p *psMessage) GetExtension(name string) any { return p.m.Attributes[cePrefix+name] }

func (p *psMessage) Finish(error) error { return nil }

// psWriter writes an SDK message into a Pub/Sub message.
type psWriter struct {
	m *pubsubpb.PubsubMessage
	// structuredContentType also sets Content-Type in structured mode, as
	// the protocol binding asks; the SDK's transport leaves it out.
	structuredContentType bool
}

var (
	_ binding.BinaryWriter     = (*psWriter)(nil)
	_ binding.StructuredWriter = (*psWriter)(nil)
)

func (w *psWriter) SetStructuredEvent(_ context.Context, f format.Format, r io.Reader) error {
	b, err := io.ReadAll(r)
	w.m.Data = b
	if w.structuredContentType {
		w.attrs()[bindingContentKey] = f.MediaType()
	}
	return err
}

func (w *psWriter) attrs() map[string]string {
	if w.m.Attributes == nil {
		w.m.Attributes = map[string]string{}
	}
	return w.m.Attributes
}

func (w *psWriter) Start(context.Context) error { w.attrs(); return nil }
func (w *psWriter) End(context.Context) error   { return nil }

func (w *psWriter) SetData(r io.Reader) error {
	b, err := io.ReadAll(r)
	w.m.Data = b
	return err
}

func (w *psWriter) SetAttribute(a spec.Attribute, value any) error {
	s, err := types.Format(value)
	if err != nil {
		return err
	}
	if a.Kind() == spec.DataContentType {
		w.attrs()[bindingContentKey] = s
	} else {
		w.attrs()[cePrefix+a.Name()] = s
	}
	return nil
}

func (w *psWriter) SetExtension(name string, value any) error {
	s, err := types.Format(value)
	w.attrs()[cePrefix+name] = s
	return err
}

// pubsubRig is a pstest server with a topic, a subscription and a client.
type pubsubRig struct {
	c     *pubsub.Client
	topic string
	sub   string
}

func newPubSubRig(t *testing.T) *pubsubRig {
	t.Helper()
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := pubsub.NewClient(t.Context(), "interop", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &pubsubRig{c: c, topic: "projects/interop/topics/events", sub: "projects/interop/subscriptions/events-sdk"}
	if err := publish.EnsureTopics(t.Context(), c, r.topic); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{Name: r.sub, Topic: r.topic}); err != nil {
		t.Fatal(err)
	}
	return r
}

// pull returns the n messages of the subscription, acknowledged.
func (r *pubsubRig) pull(t *testing.T, n int) []*pubsubpb.PubsubMessage {
	t.Helper()
	var out []*pubsubpb.PubsubMessage
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		res, err := r.c.SubscriptionAdminClient.Pull(t.Context(), &pubsubpb.PullRequest{Subscription: r.sub, MaxMessages: int32(n - len(out))})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, rm := range res.ReceivedMessages {
			out = append(out, rm.Message)
			ids = append(ids, rm.AckId)
		}
		if len(ids) > 0 {
			if err := r.c.SubscriptionAdminClient.Acknowledge(t.Context(), &pubsubpb.AcknowledgeRequest{Subscription: r.sub, AckIds: ids}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(out) != n {
		t.Fatalf("pulled %d messages, want %d", len(out), n)
	}
	return out
}

// interopCases are golden inputs with what makes them hard: escapes and
// whitespace kept byte for byte, attributes cut to Pub/Sub's limit, no
// type, user_metadata lifted into attributes.
var interopCases = []string{"batch_succeeded", "pretty_escapes", "long_values", "missing_type", "metadata_in_data", "video_generated"}

func goldenEvent(t *testing.T, name string) *events.Event {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "golden", name+".in.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	ev.WebhookID, ev.Scheme = "msg_interop_"+name, "v1"
	ev.ReceivedAt = time.Date(2026, 1, 22, 12, 0, 1, 123_456_789, time.UTC)
	return ev
}

// TestCloudEventsSDKReadsPublished: an event published by geminihook's
// publisher is read by the SDK as a valid CloudEvent whose context
// attributes are the ce-* attributes and Content-Type, with the data byte
// for byte; written back by the SDK (binary) it gives the same attributes,
// and in the SDK's JSON event format it decodes to the same Event.
func TestCloudEventsSDKReadsPublished(t *testing.T) {
	r := newPubSubRig(t)
	pub, err := publish.New(r.c, publish.Options{Topic: r.topic, Ordering: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sent := map[string]events.Message{}
	for _, name := range interopCases {
		ev := goldenEvent(t, name)
		m, err := ev.MessageWith([]string{"tenant"})
		if err != nil {
			t.Fatal(err)
		}
		m.Attributes[events.AttrTraceParent] = traceParent // as the handler adds it
		if _, err := pub.Publish(t.Context(), ev.Kind, m); err != nil {
			t.Fatal(err)
		}
		sent[ev.WebhookID] = m
	}

	for _, pm := range r.pull(t, len(interopCases)) {
		m := sent[pm.Attributes[events.AttrID]]
		t.Run(pm.Attributes[events.AttrID], func(t *testing.T) {
			want, err := events.Decode(m.Data, m.Attributes)
			if err != nil {
				t.Fatal(err)
			}
			msg := newPSMessage(pm)
			if enc := msg.ReadEncoding(); enc != binding.EncodingBinary {
				t.Fatalf("encoding %v, want binary", enc)
			}
			ce, err := binding.ToEvent(t.Context(), msg)
			if err != nil {
				t.Fatalf("binding.ToEvent: %v", err)
			}
			if err := ce.Validate(); err != nil {
				t.Errorf("not a valid CloudEvent: %v", err)
			}
			// Every context attribute, as geminihook wrote it.
			checks := []struct{ name, got, want string }{
				{"specversion", ce.SpecVersion(), events.SpecVersion},
				{"id", ce.ID(), want.WebhookID},
				{"source", ce.Source(), events.Source},
				{"type", ce.Type(), pm.Attributes[events.AttrType]},
				{"subject", ce.Subject(), pm.Attributes[events.AttrSubject]},
				{"dataschema", ce.DataSchema(), events.DataSchema},
				{"datacontenttype", ce.DataContentType(), events.ContentType},
			}
			if !want.EventTime.IsZero() {
				checks = append(checks, struct{ name, got, want string }{"time", ce.Time().UTC().Format(time.RFC3339Nano), want.EventTime.Format(time.RFC3339Nano)})
			} else if !ce.Time().IsZero() {
				t.Errorf("time = %v, want none (the envelope has no timestamp)", ce.Time())
			}
			if cut := pm.Attributes[events.AttrTruncated]; want.Type != "" && !strings.Contains(cut, events.AttrType) && ce.Type() != events.CETypePrefix+want.Type {
				t.Errorf("type = %q, want %q", ce.Type(), events.CETypePrefix+want.Type)
			}
			for _, c := range checks {
				if c.got != c.want || (c.want == "" && c.name != "subject") {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
			// The trace context is the distributed tracing extension; the
			// filter attributes (event_type, meta_*, ...) are not ce-*.
			if ext := ce.Extensions(); len(ext) != 1 || ext["traceparent"] != traceParent {
				t.Errorf("extensions = %v, want only traceparent", ext)
			}
			if !bytes.Equal(ce.Data(), m.Data) {
				t.Errorf("data differs from what was published:\n got %s\nwant %s", ce.Data(), m.Data)
			}

			// The SDK writes the same attributes back.
			var back pubsubpb.PubsubMessage
			if _, err := binding.Write(t.Context(), binding.ToMessage(ce), &psWriter{m: &back}, &psWriter{m: &back}); err != nil {
				t.Fatal(err)
			}
			wantAttrs := map[string]string{}
			for k, v := range pm.Attributes {
				if strings.HasPrefix(k, cePrefix) || k == bindingContentKey {
					wantAttrs[k] = v
				}
			}
			if !maps.Equal(back.Attributes, wantAttrs) {
				t.Errorf("SDK's binary write = %v\nwant %v", back.Attributes, wantAttrs)
			}

			// The SDK's JSON event format decodes to the same Event. The SDK
			// re-encodes JSON data there (compacted, characters escaped), so
			// the envelope keeps its meaning but not its bytes: a consumer
			// that needs Gemini's bytes reads the message in binary mode
			// (above) or with data_base64.
			js, err := format.JSON.Marshal(ce)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.Decode(js, map[string]string{bindingContentKey: format.JSON.MediaType()})
			if err != nil {
				t.Fatalf("Decode(SDK JSON format): %v\n%s", err, js)
			}
			want.Metadata = nil // attributes, not part of the CloudEvent
			for _, raw := range [][2]*json.RawMessage{{&got.Envelope, &want.Envelope}, {&got.UserMetadata, &want.UserMetadata}} {
				if !sameJSON(*raw[0], *raw[1]) {
					t.Errorf("via the SDK's JSON format: %s, want the same JSON as %s", *raw[0], *raw[1])
				}
				*raw[0] = *raw[1]
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode(SDK JSON format) =\n%+v\nwant\n%+v", *got, *want)
			}
		})
	}
}

// TestCloudEventsSDKPublishedDecodes: a CloudEvent the SDK writes into a
// Pub/Sub message (binary mode, structured mode as the SDK's transport
// writes it, without Content-Type, and structured mode with Content-Type as
// the binding asks) and publishes decodes with events.Decode to the Event
// it carries.
func TestCloudEventsSDKPublishedDecodes(t *testing.T) {
	r := newPubSubRig(t)
	modes := []struct {
		name string
		ctx  func(context.Context) context.Context
		ct   bool
	}{
		{"binary", binding.WithForceBinary, false},
		{"structured without Content-Type", binding.WithForceStructured, false},
		{"structured with Content-Type", binding.WithForceStructured, true},
	}
	want := map[string]*events.Event{}
	for i, mode := range modes {
		for _, name := range interopCases {
			ev := goldenEvent(t, name)
			ev.WebhookID = fmt.Sprintf("msg_sdk_%d_%s", i, name)
			data, err := ev.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			ce := event.New()
			ce.SetID(ev.WebhookID)
			ce.SetSource(events.Source)
			ce.SetType(events.CETypePrefix + ev.Type)
			ce.SetSubject(ev.JobID)
			ce.SetDataSchema(events.DataSchema)
			ce.SetExtension("traceparent", traceParent)
			ev.TraceParent = traceParent
			if !ev.EventTime.IsZero() {
				ce.SetTime(ev.EventTime)
			}
			if err := ce.SetData(event.ApplicationJSON, data); err != nil {
				t.Fatal(err)
			}
			if err := ce.Validate(); err != nil {
				t.Fatal(err)
			}
			var pm pubsubpb.PubsubMessage
			w := &psWriter{m: &pm, structuredContentType: mode.ct}
			enc, err := binding.Write(mode.ctx(t.Context()), binding.ToMessage(&ce), w, w)
			if err != nil {
				t.Fatal(err)
			}
			if (enc == binding.EncodingStructured) != (mode.name != "binary") {
				t.Fatalf("%s: the SDK wrote %v", mode.name, enc)
			}
			if _, err := r.c.TopicAdminClient.Publish(t.Context(), &pubsubpb.PublishRequest{Topic: r.topic, Messages: []*pubsubpb.PubsubMessage{&pm}}); err != nil {
				t.Fatal(err)
			}
			want[ev.WebhookID] = ev
		}
	}
	for _, pm := range r.pull(t, len(want)) {
		got, err := events.Decode(pm.Data, pm.Attributes)
		id := pm.Attributes[events.AttrID]
		if id == "" && got != nil {
			id = got.WebhookID // structured: the id is in the data
		}
		if err != nil {
			t.Errorf("Decode(%v, %s): %v", pm.Attributes, pm.Data, err)
			continue
		}
		w := want[got.WebhookID]
		if w == nil {
			t.Errorf("unexpected event %q", got.WebhookID)
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: Decode =\n%+v\nwant\n%+v", id, *got, *w)
		}
		delete(want, got.WebhookID)
	}
	if len(want) != 0 {
		t.Errorf("not decoded: %v", slicesOfKeys(want))
	}
}

// sameJSON reports whether a and b are the same JSON value (nil is no
// value).
func sameJSON(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func slicesOfKeys(m map[string]*events.Event) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
