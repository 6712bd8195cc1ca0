// Package geminitest runs a fake of the Gemini API's WebhookService
// (REST, v1beta) on an httptest server, for tests of the webhooks command
// and the watcher.
//
// It follows the API reference, independently of package gemini's types:
//
//   - POST /v1beta/webhooks creates a webhook (uri and subscribed_events
//     required, events from the documented enum, unknown JSON fields
//     refused) and answers it with new_signing_secret, once.
//   - GET /v1beta/webhooks lists them in creation order, page_size default
//     50, at most 1000, with an opaque next_page_token.
//   - GET, PATCH (update_mask=uri,subscribed_events,state,name required)
//     and DELETE /v1beta/webhooks/{id}; state may be set to enabled or
//     disabled, never to disabled_due_to_failed_deliveries (only Gemini
//     sets that: SetState).
//   - POST /v1beta/webhooks/{id}:ping answers {} and delivers a ping event
//     to the webhook's uri, signed like every delivery.
//   - POST /v1beta/webhooks/{id}:rotateSigningSecret with
//     revocation_behavior revoke_previous_secrets_after_h24 (the previous
//     secrets get an expire_time 24 h ahead) or
//     revoke_previous_secrets_immediately (they expire now) answers
//     {"secret": "whsec_…"}.
//   - Every call needs x-goog-api-key: none is 403 PERMISSION_DENIED, a
//     wrong one 400 INVALID_ARGUMENT "API key not valid", as Google
//     answers; every error is Google's error JSON.
//
// Deliveries follow Standard Webhooks v1: webhook-id, webhook-timestamp
// and webhook-signature with one "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" token per secret that has not expired, so that a
// rotation signs first with the old secret, then with both, then with the
// new one. The fake's clock (Advance) moves the expiries only; the
// signatures carry the real time, which receivers check.
//
// Faults: Fail makes the next calls answer an error status (with a
// Retry-After), to test retries.
package geminitest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Events is the subscribed_events enum of the API reference.
var Events = []string{
	"batch.succeeded", "batch.failed", "batch.expired",
	"interaction.requires_action", "interaction.completed", "interaction.failed",
	"video.generated",
}

// PingType is the event type of the ping deliveries the fake sends.
const PingType = "webhook.ping"

// Webhook is the resource as the API reference writes it.
type Webhook struct {
	ID               string          `json:"id"`
	Name             string          `json:"name,omitempty"`
	URI              string          `json:"uri"`
	SubscribedEvents []string        `json:"subscribed_events"`
	State            string          `json:"state"`
	SigningSecrets   []SigningSecret `json:"signing_secrets,omitempty"`
	CreateTime       string          `json:"create_time"`
	UpdateTime       string          `json:"update_time"`
	NewSigningSecret string          `json:"new_signing_secret,omitempty"`
}

// SigningSecret is one entry of signing_secrets.
type SigningSecret struct {
	TruncatedSecret string `json:"truncated_secret"`
	ExpireTime      string `json:"expire_time,omitempty"`
}

// Delivery is one delivery the fake made.
type Delivery struct {
	WebhookID  string // the webhook's id
	MessageID  string // the webhook-id header
	Type       string
	Signatures int // v1 tokens in webhook-signature
	Status     int // the receiver's answer; 0 when none came
	Err        error
	At         time.Time
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	// APIKey is the key every call must carry.
	APIKey string

	mu         sync.Mutex
	hooks      map[string]*hook
	order      []string
	offset     time.Duration // added to the real clock
	faults     []fault
	calls      map[string]int // by operation: create, list, get, update, delete, ping, rotate
	behaviors  []string       // revocation_behavior of each rotation
	deliveries []Delivery
	pending    sync.WaitGroup
	closed     bool
	client     *http.Client
	// DropExpired leaves expired secrets out of signing_secrets.
	dropExpired bool
}

type hook struct {
	w       Webhook // without secrets
	secrets []secret
}

type secret struct {
	value  string
	expire time.Time // zero: none
}

type fault struct {
	op         string // "" any
	status     int
	retryAfter string
	n          int
}

// NewServer starts a fake that accepts apiKey, closed when the test ends.
func NewServer(tb testing.TB, apiKey string) *Server {
	tb.Helper()
	s := &Server{
		APIKey: apiKey,
		hooks:  map[string]*hook{},
		calls:  map[string]int{},
		client: &http.Client{Timeout: 10 * time.Second},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// Close waits for the deliveries under way and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return
	}
	s.pending.Wait()
	s.Server.Close()
}

// DropExpired makes signing_secrets leave out the secrets that have
// expired (true), or list them with their past expire_time (false, the
// default).
func (s *Server) DropExpired(drop bool) {
	s.mu.Lock()
	s.dropExpired = drop
	s.mu.Unlock()
}

// Now is the fake's clock: the real time plus what Advance added.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func (s *Server) now() time.Time { return time.Now().Add(s.offset).UTC() }

// Advance moves the fake's clock (the expiry of secrets) by d.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// Fail makes the next n calls of op ("create", "list", "get", "update",
// "delete", "ping", "rotate"; "" for any) answer status with Google's
// error JSON and, when retryAfter is not empty, a Retry-After header.
func (s *Server) Fail(op string, n, status int, retryAfter string) {
	s.mu.Lock()
	s.faults = append(s.faults, fault{op: op, status: status, retryAfter: retryAfter, n: n})
	s.mu.Unlock()
}

// ClearFaults drops the faults that Fail queued and that are not used up.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// Calls reports how many calls of op were received (faults included).
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Behaviors returns the revocation_behavior of every rotation so far.
func (s *Server) Behaviors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.behaviors)
}

// AddWebhook stores a webhook signed with secret (a whsec_ value; "" for
// a new one) as if created earlier, and returns its id.
func (s *Server) AddWebhook(uri string, events []string, secretValue string) string {
	if secretValue == "" {
		secretValue = NewSecret()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(Webhook{URI: uri, SubscribedEvents: slices.Clone(events)}, secretValue).ID
}

// SetState sets a webhook's state as Gemini does, e.g. to
// disabled_due_to_failed_deliveries.
func (s *Server) SetState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hooks[id]; h != nil {
		h.w.State = state
		h.w.UpdateTime = s.stamp()
	}
}

// Webhook returns a webhook as GET answers it, and whether it exists.
func (s *Server) Webhook(id string) (Webhook, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hooks[id]
	if h == nil {
		return Webhook{}, false
	}
	return s.view(h), true
}

// Secrets returns the values of a webhook's secrets that have not
// expired, oldest first: what its deliveries are signed with.
func (s *Server) Secrets(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hooks[id]
	if h == nil {
		return nil
	}
	return s.valid(h)
}

// AllSecrets returns every secret value the fake ever issued, for tests
// that check none of them leaked.
func (s *Server) AllSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range s.order {
		for _, sec := range s.hooks[id].secrets {
			out = append(out, sec.value)
		}
	}
	return out
}

// Deliveries returns the deliveries made so far.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// WaitDeliveries waits until the deliveries under way (pings) have ended.
func (s *Server) WaitDeliveries() { s.pending.Wait() }

// NewSecret returns a fresh whsec_ secret as Gemini issues them.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Truncate is the display form the fake writes in truncated_secret.
func Truncate(secretValue string) string {
	body := strings.TrimPrefix(secretValue, "whsec_")
	return "whsec_" + body[:4] + "..." + body[len(body)-4:]
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) stamp() string { return s.now().Format(time.RFC3339Nano) }

// add stores a new webhook; the caller holds s.mu.
func (s *Server) add(w Webhook, secretValue string) Webhook {
	w.ID = newID()
	w.State = "enabled"
	w.CreateTime = s.stamp()
	w.UpdateTime = w.CreateTime
	s.hooks[w.ID] = &hook{w: w, secrets: []secret{{value: secretValue}}}
	s.order = append(s.order, w.ID)
	return w
}

// view is the resource as answered; the caller holds s.mu.
func (s *Server) view(h *hook) Webhook {
	w := h.w
	w.SubscribedEvents = slices.Clone(w.SubscribedEvents)
	now := s.now()
	for _, sec := range h.secrets {
		expired := !sec.expire.IsZero() && !sec.expire.After(now)
		if expired && s.dropExpired {
			continue
		}
		e := SigningSecret{TruncatedSecret: Truncate(sec.value)}
		if !sec.expire.IsZero() {
			e.ExpireTime = sec.expire.Format(time.RFC3339)
		}
		w.SigningSecrets = append(w.SigningSecrets, e)
	}
	return w
}

// valid returns the secrets that sign now; the caller holds s.mu.
func (s *Server) valid(h *hook) []string {
	now := s.now()
	var out []string
	for _, sec := range h.secrets {
		if sec.expire.IsZero() || sec.expire.After(now) {
			out = append(out, sec.value)
		}
	}
	return out
}

// apiError writes Google's error JSON.
func apiError(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(v)
}

var statusOf = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

const prefix = "/v1beta/webhooks"

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// The Date header tells the fake's clock, as Google's tells its own.
	w.Header().Set("Date", s.Now().Format(http.TimeFormat))
	op, id, ok := route(r)
	if !ok {
		apiError(w, 404, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
		return
	}
	s.mu.Lock()
	s.calls[op]++
	var f *fault
	for i := range s.faults {
		if s.faults[i].n > 0 && (s.faults[i].op == "" || s.faults[i].op == op) {
			s.faults[i].n--
			c := s.faults[i]
			f = &c
			break
		}
	}
	s.mu.Unlock()
	switch key := r.Header.Get("x-goog-api-key"); {
	case key == "":
		apiError(w, 403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return
	case key != s.APIKey:
		apiError(w, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
		return
	}
	if f != nil {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		apiError(w, f.status, statusOf[f.status], "injected fault "+strconv.Itoa(f.status))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		apiError(w, 400, "INVALID_ARGUMENT", "unreadable body")
		return
	}
	switch op {
	case "create":
		s.create(w, body)
	case "list":
		s.list(w, r)
	case "get":
		s.get(w, id)
	case "update":
		s.update(w, r, id, body)
	case "delete":
		s.delete(w, id)
	case "ping":
		s.ping(w, id, body)
	case "rotate":
		s.rotate(w, id, body)
	}
}

// route names the operation of r.
func route(r *http.Request) (op, id string, ok bool) {
	p := r.URL.Path
	if p == prefix {
		switch r.Method {
		case http.MethodPost:
			return "create", "", true
		case http.MethodGet:
			return "list", "", true
		}
		return "", "", false
	}
	rest, found := strings.CutPrefix(p, prefix+"/")
	if !found || rest == "" || strings.Contains(rest, "/") {
		return "", "", false
	}
	id, action, hasAction := strings.Cut(rest, ":")
	switch {
	case hasAction && r.Method == http.MethodPost && action == "ping":
		return "ping", id, true
	case hasAction && r.Method == http.MethodPost && action == "rotateSigningSecret":
		return "rotate", id, true
	case hasAction:
		return "", "", false
	case r.Method == http.MethodGet:
		return "get", id, true
	case r.Method == http.MethodPatch:
		return "update", id, true
	case r.Method == http.MethodDelete:
		return "delete", id, true
	}
	return "", "", false
}

// decodeStrict decodes a JSON object refusing unknown fields, as Google
// answers "Invalid JSON payload received. Unknown name".
func decodeStrict(w http.ResponseWriter, body []byte, v any) bool {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		apiError(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
		return false
	}
	return true
}

// input is what a client may send of a webhook.
type input struct {
	Name             *string   `json:"name"`
	URI              *string   `json:"uri"`
	SubscribedEvents *[]string `json:"subscribed_events"`
	State            *string   `json:"state"`
}

func checkURI(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http") {
		return "uri must be an absolute https URL"
	}
	if p.Scheme == "http" && p.Hostname() != "127.0.0.1" && p.Hostname() != "localhost" && p.Hostname() != "::1" {
		return "uri must use https" // the fake allows http on loopback only, for tests
	}
	return ""
}

func checkEvents(evs []string) string {
	if len(evs) == 0 {
		return "subscribed_events must not be empty"
	}
	for _, e := range evs {
		if !slices.Contains(Events, e) {
			return fmt.Sprintf("Invalid value at 'webhook.subscribed_events' (%q)", e)
		}
	}
	return ""
}

func (s *Server) create(w http.ResponseWriter, body []byte) {
	var in input
	if !decodeStrict(w, body, &in) {
		return
	}
	if in.URI == nil || *in.URI == "" {
		apiError(w, 400, "INVALID_ARGUMENT", "uri is required")
		return
	}
	if msg := checkURI(*in.URI); msg != "" {
		apiError(w, 400, "INVALID_ARGUMENT", msg)
		return
	}
	var evs []string
	if in.SubscribedEvents != nil {
		evs = *in.SubscribedEvents
	}
	if msg := checkEvents(evs); msg != "" {
		apiError(w, 400, "INVALID_ARGUMENT", msg)
		return
	}
	wh := Webhook{URI: *in.URI, SubscribedEvents: slices.Clone(evs)}
	if in.Name != nil {
		wh.Name = *in.Name
	}
	sec := NewSecret()
	s.mu.Lock()
	wh = s.add(wh, sec)
	out := s.view(s.hooks[wh.ID])
	s.mu.Unlock()
	out.NewSigningSecret = sec
	answer(w, out)
}

// page tokens are opaque to clients: base64 of "offset:N".
func pageToken(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(n)))
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := 50
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			apiError(w, 400, "INVALID_ARGUMENT", "page_size must be a non-negative integer")
			return
		}
		if n > 0 {
			size = min(n, 1000)
		}
	}
	offset := 0
	if t := q.Get("page_token"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "offset:") || n < 0 {
			apiError(w, 400, "INVALID_ARGUMENT", "Invalid page token.")
			return
		}
		offset = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := struct {
		Webhooks      []Webhook `json:"webhooks"`
		NextPageToken string    `json:"next_page_token,omitempty"`
	}{Webhooks: []Webhook{}}
	for i := offset; i < len(s.order) && i < offset+size; i++ {
		out.Webhooks = append(out.Webhooks, s.view(s.hooks[s.order[i]]))
	}
	if offset+size < len(s.order) {
		out.NextPageToken = pageToken(offset + size)
	}
	answer(w, out)
}

func (s *Server) notFound(w http.ResponseWriter, id string) {
	apiError(w, 404, "NOT_FOUND", "Webhook webhooks/"+id+" not found.")
}

func (s *Server) get(w http.ResponseWriter, id string) {
	s.mu.Lock()
	h := s.hooks[id]
	var out Webhook
	if h != nil {
		out = s.view(h)
	}
	s.mu.Unlock()
	if h == nil {
		s.notFound(w, id)
		return
	}
	answer(w, out)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, id string, body []byte) {
	mask := r.URL.Query().Get("update_mask")
	if mask == "" {
		apiError(w, 400, "INVALID_ARGUMENT", "update_mask is required")
		return
	}
	var in input
	if !decodeStrict(w, body, &in) {
		return
	}
	fields := strings.Split(mask, ",")
	for _, f := range fields {
		var msg string
		switch f {
		case "uri":
			if in.URI == nil {
				msg = "uri is in update_mask but not in the webhook"
			} else {
				msg = checkURI(*in.URI)
			}
		case "subscribed_events":
			if in.SubscribedEvents == nil {
				msg = "subscribed_events is in update_mask but not in the webhook"
			} else {
				msg = checkEvents(*in.SubscribedEvents)
			}
		case "state":
			if in.State == nil || (*in.State != "enabled" && *in.State != "disabled") {
				msg = "state can be set to enabled or disabled"
			}
		case "name":
		default:
			msg = fmt.Sprintf("update_mask: unknown or immutable field %q", f)
		}
		if msg != "" {
			apiError(w, 400, "INVALID_ARGUMENT", msg)
			return
		}
	}
	s.mu.Lock()
	h := s.hooks[id]
	var out Webhook
	if h != nil {
		for _, f := range fields {
			switch f {
			case "uri":
				h.w.URI = *in.URI
			case "subscribed_events":
				h.w.SubscribedEvents = slices.Clone(*in.SubscribedEvents)
			case "state":
				h.w.State = *in.State
			case "name":
				if in.Name != nil {
					h.w.Name = *in.Name
				}
			}
		}
		h.w.UpdateTime = s.stamp()
		out = s.view(h)
	}
	s.mu.Unlock()
	if h == nil {
		s.notFound(w, id)
		return
	}
	answer(w, out)
}

func (s *Server) delete(w http.ResponseWriter, id string) {
	s.mu.Lock()
	h := s.hooks[id]
	if h != nil {
		delete(s.hooks, id)
		s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
	}
	s.mu.Unlock()
	if h == nil {
		s.notFound(w, id)
		return
	}
	answer(w, struct{}{})
}

func (s *Server) ping(w http.ResponseWriter, id string, body []byte) {
	var in struct{}
	if !decodeStrict(w, body, &in) {
		return
	}
	s.mu.Lock()
	h := s.hooks[id]
	closed := s.closed
	if h != nil && !closed {
		s.pending.Add(1)
	}
	s.mu.Unlock()
	if h == nil {
		s.notFound(w, id)
		return
	}
	answer(w, struct{}{})
	if closed {
		return
	}
	go func() {
		defer s.pending.Done()
		// A moment after the answer, as Gemini's queue would.
		time.Sleep(20 * time.Millisecond)
		s.Deliver(context.Background(), id, PingType, map[string]any{"webhook_id": id})
	}()
}

func (s *Server) rotate(w http.ResponseWriter, id string, body []byte) {
	var in struct {
		RevocationBehavior string `json:"revocation_behavior"`
	}
	if !decodeStrict(w, body, &in) {
		return
	}
	var expire time.Duration
	switch in.RevocationBehavior {
	case "revoke_previous_secrets_after_h24":
		expire = 24 * time.Hour
	case "revoke_previous_secrets_immediately":
	default:
		apiError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("Invalid value at 'revocation_behavior' (%q)", in.RevocationBehavior))
		return
	}
	s.mu.Lock()
	h := s.hooks[id]
	sec := NewSecret()
	if h != nil {
		now := s.now()
		end := now.Add(expire).Truncate(time.Second)
		for i := range h.secrets {
			if h.secrets[i].expire.IsZero() || h.secrets[i].expire.After(end) {
				h.secrets[i].expire = end
			}
		}
		h.secrets = append(h.secrets, secret{value: sec})
		h.w.UpdateTime = s.stamp()
		s.behaviors = append(s.behaviors, in.RevocationBehavior)
	}
	s.mu.Unlock()
	if h == nil {
		s.notFound(w, id)
		return
	}
	answer(w, map[string]string{"secret": sec})
}

// Deliver sends one event of type typ with data to the webhook's uri,
// signed with every secret that has not expired, and returns the delivery
// with the receiver's status (0, and the error, when none came).
func (s *Server) Deliver(ctx context.Context, id, typ string, data map[string]any) (Delivery, error) {
	s.mu.Lock()
	h := s.hooks[id]
	if h == nil {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("geminitest: no webhook %q", id)
	}
	uri, secrets := h.w.URI, s.valid(h)
	s.mu.Unlock()

	now := time.Now()
	env := map[string]any{"type": typ, "version": "v1", "timestamp": now.UTC().Format(time.RFC3339), "data": data}
	body, err := json.Marshal(env)
	if err != nil {
		return Delivery{}, err
	}
	msgID := "msg_" + newID() + newID()
	ts := strconv.FormatInt(now.Unix(), 10)
	var toks []string
	for _, sec := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsec_"))
		if err != nil {
			return Delivery{}, err
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msgID + "." + ts + "." + string(body)))
		toks = append(toks, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(body))
	if err != nil {
		return Delivery{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", strings.Join(toks, " "))
	d := Delivery{WebhookID: id, MessageID: msgID, Type: typ, Signatures: len(toks), At: now}
	res, err := s.client.Do(req)
	if err == nil {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d.Status = res.StatusCode
	}
	d.Err = err
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	return d, err
}
