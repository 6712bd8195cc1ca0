// Package gemini is a small client of the Gemini API's WebhookService
// (REST, v1beta): create, list, get, update, delete, ping and rotate the
// signing secret of the project's static webhooks.
//
// It speaks the documented REST surface and nothing more:
//
//	POST   /v1beta/webhooks                          create (the answer carries new_signing_secret)
//	GET    /v1beta/webhooks?page_size=&page_token=   list, one page (List follows next_page_token)
//	GET    /v1beta/webhooks/{id}                     get
//	PATCH  /v1beta/webhooks/{id}?update_mask=…       update uri, subscribed_events, state
//	DELETE /v1beta/webhooks/{id}                     delete
//	POST   /v1beta/webhooks/{id}:ping                ping (body {}, answer {})
//	POST   /v1beta/webhooks/{id}:rotateSigningSecret rotate (answer {"secret": "whsec_…"})
//
// The API key travels in the x-goog-api-key header only; it is never part
// of a URL, an error or a formatted value. Signing secrets are held as
// [Secret], whose formatted, logged and JSON forms are redacted: only
// [Secret.Reveal] gives the value.
//
// # Errors and retries
//
// An answer other than 2xx becomes an [*APIError] carrying Google's error
// JSON ({"error":{"code","message","status"}}); it wraps one of
// ErrInvalidArgument (400), ErrPermission (401, 403), ErrNotFound (404),
// ErrConflict (409), ErrRateLimited (429) or ErrServer (5xx). A request
// that gets no answer at all wraps ErrUnreachable.
//
// 429 and 503 are retried for every call; 500, 502 and 504 only for the
// calls that may be repeated without effect (get, list, update, delete,
// ping): a create or a rotation that failed that way may have happened,
// and repeating it would make a second webhook or a second secret that
// nobody stored. Retries back off exponentially with jitter, honour
// Retry-After, and are bounded by Options.MaxAttempts and
// Options.MaxRetryWait (the total time spent waiting) and by the context.
//
// The package uses the standard library only.
package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is Google's host of the Gemini API; APIVersion the path
// of the WebhookService version used.
const (
	DefaultBaseURL = "https://generativelanguage.googleapis.com"
	APIVersion     = "v1beta"
)

// Page sizes of list: the server's default and its maximum.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Webhook states.
const (
	StateEnabled  = "enabled"
	StateDisabled = "disabled"
	// StateDisabledFailed is set by Gemini after deliveries kept failing;
	// setting StateEnabled re-enables the webhook.
	StateDisabledFailed = "disabled_due_to_failed_deliveries"
)

// Events are the event types a static webhook can subscribe to.
var Events = []string{
	"batch.succeeded", "batch.failed", "batch.expired",
	"interaction.requires_action", "interaction.completed", "interaction.failed",
	"video.generated",
}

// Revocation behaviours of RotateSigningSecret.
const (
	// RevokeAfter24h keeps the previous secrets valid (Gemini signs with
	// both) for 24 hours.
	RevokeAfter24h = "revoke_previous_secrets_after_h24"
	// RevokeImmediately invalidates the previous secrets at once.
	RevokeImmediately = "revoke_previous_secrets_immediately"
)

// Secret is a signing secret ("whsec_…"). Its fmt, slog and JSON forms are
// "[redacted]"; Reveal returns the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer with the redacted form.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer with the redacted form.
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter: every verb prints the redacted form.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// MarshalJSON writes the redacted form: a Secret never leaves in JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue implements slog.LogValuer with the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// SigningSecret is one entry of Webhook.SigningSecrets: the display form
// of a secret and, when it is being revoked, when it stops working.
type SigningSecret struct {
	// TruncatedSecret shows a few characters of the secret (a prefix and
	// a suffix around an elision); see Match.
	TruncatedSecret string `json:"truncated_secret,omitempty"`
	// ExpireTime is RFC 3339; empty for a secret with no end.
	ExpireTime string `json:"expire_time,omitempty"`
}

// Expires returns ExpireTime parsed, and false when there is none (or it
// does not parse).
func (s SigningSecret) Expires() (time.Time, bool) {
	if s.ExpireTime == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s.ExpireTime)
	return t, err == nil
}

// Expired reports whether the secret has an expire time at or before now.
func (s SigningSecret) Expired(now time.Time) bool {
	t, ok := s.Expires()
	return ok && !t.After(now)
}

// Webhook is the WebhookService resource.
type Webhook struct {
	// ID names the webhook in paths (/v1beta/webhooks/{id}).
	ID string `json:"id,omitempty"`
	// Name is the display name.
	Name             string          `json:"name,omitempty"`
	URI              string          `json:"uri,omitempty"`
	SubscribedEvents []string        `json:"subscribed_events,omitempty"`
	State            string          `json:"state,omitempty"`
	SigningSecrets   []SigningSecret `json:"signing_secrets,omitempty"`
	CreateTime       string          `json:"create_time,omitempty"`
	UpdateTime       string          `json:"update_time,omitempty"`
	// NewSigningSecret is set in the answer of Create only.
	NewSigningSecret Secret `json:"new_signing_secret,omitempty"`
}

// Disabled reports whether the webhook receives nothing: disabled by its
// owner or by Gemini after failed deliveries.
func (w Webhook) Disabled() bool {
	return w.State == StateDisabled || w.State == StateDisabledFailed
}

// NewestSecret returns the index in SigningSecrets of the secret Gemini
// signs with last: the one with no expire time (the latest such entry),
// else the one that expires last; -1 when there is none.
func (w Webhook) NewestSecret() int {
	best, open := -1, false
	var bestT time.Time
	for i, s := range w.SigningSecrets {
		t, ok := s.Expires()
		switch {
		case !ok:
			// An entry without an end beats every entry with one; among
			// several, the last listed wins.
			best, open = i, true
		case open:
		case best < 0 || t.After(bestT):
			best, bestT = i, t
		}
	}
	return best
}

// Errors wrapped by the errors of a Client.
var (
	ErrInvalidArgument = errors.New("invalid argument")
	ErrPermission      = errors.New("permission denied")
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrRateLimited     = errors.New("rate limited")
	ErrServer          = errors.New("server error")
	// ErrUnreachable: no answer at all (connection refused, DNS, timeout).
	ErrUnreachable = errors.New("unreachable")
	// ErrProtocol: a 2xx answer that is not the documented JSON.
	ErrProtocol = errors.New("unexpected answer")
	// ErrInvalidID: a webhook id that cannot be put in a path.
	ErrInvalidID = errors.New("invalid webhook id")
)

// APIError is an answer other than 2xx.
type APIError struct {
	Op         string // "get webhooks/abc", "list webhooks", ...
	HTTPStatus int
	Status     string // Google's status, e.g. "NOT_FOUND"
	Message    string // Google's message, on one line
	Attempts   int
	RetryAfter time.Duration // from the last answer's Retry-After, if any
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Op, e.HTTPStatus)
	if e.Status != "" {
		b.WriteString(" " + e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the sentinel of the status class.
func (e *APIError) Unwrap() error { return classify(e.HTTPStatus) }

func classify(code int) error {
	switch {
	case code == http.StatusBadRequest:
		return ErrInvalidArgument
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return ErrPermission
	case code == http.StatusNotFound:
		return ErrNotFound
	case code == http.StatusConflict:
		return ErrConflict
	case code == http.StatusTooManyRequests:
		return ErrRateLimited
	case code >= 500:
		return ErrServer
	}
	return ErrProtocol
}

// Options tune a Client; zero fields take their defaults.
type Options struct {
	// BaseURL is the API host, default DefaultBaseURL (tests and proxies
	// point elsewhere). The version path is added by the client.
	BaseURL string
	// HTTPClient default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts of one call (default 5).
	MaxAttempts int
	// MaxRetryWait bounds the total time spent waiting between attempts
	// of one call (default 30 s); a Retry-After beyond it ends the call.
	MaxRetryWait time.Duration
	// MinBackoff and MaxBackoff bound one wait (defaults 500 ms and 8 s).
	MinBackoff, MaxBackoff time.Duration
	// UserAgent is sent as User-Agent.
	UserAgent string
	// Sleep waits d or until ctx ends (default: a timer); tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls the WebhookService. It is safe for concurrent use.
type Client struct {
	base    string // BaseURL + "/" + APIVersion
	key     string
	http    *http.Client
	o       Options
	sleep   func(context.Context, time.Duration) error
	retries retryLog

	mu   sync.Mutex
	skew time.Duration // the server's Date minus the local clock
}

// Now is the time by the API's clock: the local clock corrected by the
// Date header of the last answer (to the second). Expiry times in the
// answers are the API's; compare them with Now rather than time.Now.
func (c *Client) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

// observeDate records the skew of a Date header; beyond a second of
// difference only, since the header has no finer resolution.
func (c *Client) observeDate(v string, local time.Time) {
	t, err := http.ParseTime(v)
	if err != nil {
		return
	}
	skew := t.Sub(local.Truncate(time.Second))
	if skew > -time.Second && skew < time.Second {
		skew = 0
	}
	c.mu.Lock()
	c.skew = skew
	c.mu.Unlock()
}

// retryLog lets a caller see the waits (tests, verbose output).
type retryLog struct {
	onRetry func(op string, attempt int, wait time.Duration, err error)
}

// New returns a Client with apiKey (never empty).
func New(apiKey string, o Options) (*Client, error) {
	if strings.TrimSpace(apiKey) == "" {
		return nil, errors.New("gemini: empty API key")
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("gemini: base URL %q: want an absolute http(s) URL without a query", o.BaseURL)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 8 * time.Second
	}
	c := &Client{
		base: strings.TrimSuffix(o.BaseURL, "/") + "/" + APIVersion,
		key:  strings.TrimSpace(apiKey),
		http: o.HTTPClient,
		o:    o,
	}
	c.sleep = o.Sleep
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	return c, nil
}

// OnRetry sets a function called before each retry (for progress output).
func (c *Client) OnRetry(f func(op string, attempt int, wait time.Duration, err error)) {
	c.retries.onRetry = f
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CleanID accepts "ID" or "webhooks/ID" and returns ID; it refuses what
// cannot be one path segment.
func CleanID(id string) (string, error) {
	id = strings.TrimPrefix(strings.TrimSpace(id), "webhooks/")
	if id == "" || len(id) > 256 || strings.ContainsAny(id, "/?#:% \t\r\n") || id == "." || id == ".." {
		return "", fmt.Errorf("%w %q: want the id that 'webhooks list' prints", ErrInvalidID, id)
	}
	return id, nil
}

// Create creates w (Name, URI, SubscribedEvents). The answer carries
// NewSigningSecret, the only time Gemini gives it.
func (c *Client) Create(ctx context.Context, w Webhook) (*Webhook, error) {
	body := Webhook{Name: w.Name, URI: w.URI, SubscribedEvents: w.SubscribedEvents}
	var out Webhook
	if err := c.call(ctx, "create webhook", http.MethodPost, "/webhooks", nil, body, &out, false); err != nil {
		return nil, err
	}
	if out.ID == "" {
		return nil, fmt.Errorf("create webhook: %w: no id in the answer", ErrProtocol)
	}
	return &out, nil
}

// Page is one page of List.
type Page struct {
	Webhooks      []Webhook `json:"webhooks"`
	NextPageToken string    `json:"next_page_token,omitempty"`
}

// ListPage returns one page; pageSize 0 takes the server's default.
func (c *Client) ListPage(ctx context.Context, pageSize int, pageToken string) (*Page, error) {
	q := url.Values{}
	if pageSize > 0 {
		q.Set("page_size", strconv.Itoa(min(pageSize, MaxPageSize)))
	}
	if pageToken != "" {
		q.Set("page_token", pageToken)
	}
	var p Page
	if err := c.call(ctx, "list webhooks", http.MethodGet, "/webhooks", q, nil, &p, true); err != nil {
		return nil, err
	}
	return &p, nil
}

// maxPages bounds List against a server that never ends its pages.
const maxPages = 10000

// List returns every webhook, following next_page_token to the end.
func (c *Client) List(ctx context.Context, pageSize int) ([]Webhook, error) {
	var all []Webhook
	seen := map[string]bool{}
	token := ""
	for range maxPages {
		p, err := c.ListPage(ctx, pageSize, token)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Webhooks...)
		if p.NextPageToken == "" {
			return all, nil
		}
		if seen[p.NextPageToken] {
			return nil, fmt.Errorf("list webhooks: %w: next_page_token repeats", ErrProtocol)
		}
		seen[p.NextPageToken] = true
		token = p.NextPageToken
	}
	return nil, fmt.Errorf("list webhooks: %w: more than %d pages", ErrProtocol, maxPages)
}

// Get returns one webhook.
func (c *Client) Get(ctx context.Context, id string) (*Webhook, error) {
	id, err := CleanID(id)
	if err != nil {
		return nil, err
	}
	var out Webhook
	if err := c.call(ctx, "get webhooks/"+id, http.MethodGet, "/webhooks/"+url.PathEscape(id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Update changes the fields of w named in mask (uri, subscribed_events,
// state, name) and returns the webhook as it is now.
func (c *Client) Update(ctx context.Context, id string, w Webhook, mask []string) (*Webhook, error) {
	id, err := CleanID(id)
	if err != nil {
		return nil, err
	}
	if len(mask) == 0 {
		return nil, fmt.Errorf("update webhooks/%s: %w: nothing to update", id, ErrInvalidArgument)
	}
	body := map[string]any{}
	for _, f := range mask {
		switch f {
		case "uri":
			body[f] = w.URI
		case "subscribed_events":
			body[f] = w.SubscribedEvents
		case "state":
			body[f] = w.State
		case "name":
			body[f] = w.Name
		default:
			return nil, fmt.Errorf("update webhooks/%s: %w: field %q cannot be updated", id, ErrInvalidArgument, f)
		}
	}
	q := url.Values{"update_mask": {strings.Join(mask, ",")}}
	var out Webhook
	if err := c.call(ctx, "update webhooks/"+id, http.MethodPatch, "/webhooks/"+url.PathEscape(id), q, body, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Enable sets the state to enabled: it re-enables a webhook that its
// owner or Gemini (after failed deliveries) disabled.
func (c *Client) Enable(ctx context.Context, id string) (*Webhook, error) {
	return c.Update(ctx, id, Webhook{State: StateEnabled}, []string{"state"})
}

// Delete deletes a webhook.
func (c *Client) Delete(ctx context.Context, id string) error {
	id, err := CleanID(id)
	if err != nil {
		return err
	}
	return c.call(ctx, "delete webhooks/"+id, http.MethodDelete, "/webhooks/"+url.PathEscape(id), nil, nil, nil, true)
}

// Ping asks Gemini to send a ping event to the webhook's URI.
func (c *Client) Ping(ctx context.Context, id string) error {
	id, err := CleanID(id)
	if err != nil {
		return err
	}
	return c.call(ctx, "ping webhooks/"+id, http.MethodPost, "/webhooks/"+url.PathEscape(id)+":ping", nil, struct{}{}, nil, true)
}

// RotateSigningSecret makes a new signing secret and returns it; behavior
// is RevokeAfter24h or RevokeImmediately.
func (c *Client) RotateSigningSecret(ctx context.Context, id, behavior string) (Secret, error) {
	id, err := CleanID(id)
	if err != nil {
		return "", err
	}
	if behavior != RevokeAfter24h && behavior != RevokeImmediately {
		return "", fmt.Errorf("rotate webhooks/%s: %w: revocation behavior %q", id, ErrInvalidArgument, behavior)
	}
	var out struct {
		Secret Secret `json:"secret"`
	}
	op := "rotate the signing secret of webhooks/" + id
	if err := c.call(ctx, op, http.MethodPost, "/webhooks/"+url.PathEscape(id)+":rotateSigningSecret", nil,
		map[string]string{"revocation_behavior": behavior}, &out, false); err != nil {
		return "", err
	}
	if out.Secret == "" {
		return "", fmt.Errorf("%s: %w: no secret in the answer", op, ErrProtocol)
	}
	return out.Secret, nil
}

// maxAnswerBytes bounds an answer's body.
const maxAnswerBytes = 8 << 20

// call performs one API call with retries. idempotent calls are retried
// on every 5xx; the others on 429 and 503 only.
func (c *Client) call(ctx context.Context, op, method, path string, q url.Values, in, out any, idempotent bool) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	waited := time.Duration(0)
	for attempt := 1; ; attempt++ {
		res, err := c.once(ctx, method, u, body)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", op, ctx.Err())
			}
			return fmt.Errorf("%s: %w: %s", op, ErrUnreachable, transportError(err))
		}
		if res.status/100 == 2 {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(res.body, out); err != nil {
				return fmt.Errorf("%s: %w: %v", op, ErrProtocol, err)
			}
			return nil
		}
		apiErr := decodeError(op, res)
		apiErr.Attempts = attempt
		if !retryable(res.status, idempotent) || attempt >= c.o.MaxAttempts {
			return apiErr
		}
		wait := c.backoff(attempt)
		if apiErr.RetryAfter > wait {
			wait = apiErr.RetryAfter
		}
		if waited+wait > c.o.MaxRetryWait {
			return apiErr
		}
		if c.retries.onRetry != nil {
			c.retries.onRetry(op, attempt, wait, apiErr)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (gave up waiting to retry: %v)", apiErr, err)
		}
		waited += wait
	}
}

func retryable(status int, idempotent bool) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return idempotent
	}
	return false
}

// backoff is exponential from MinBackoff, capped at MaxBackoff, with
// jitter in [50%, 100%].
func (c *Client) backoff(attempt int) time.Duration {
	d := c.o.MinBackoff << min(attempt-1, 20)
	if d <= 0 || d > c.o.MaxBackoff {
		d = c.o.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

type answer struct {
	status     int
	body       []byte
	retryAfter string
}

func (c *Client) once(ctx context.Context, method, u string, body []byte) (*answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("x-goog-api-key", c.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.o.UserAgent != "" {
		req.Header.Set("User-Agent", c.o.UserAgent)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if d := res.Header.Get("Date"); d != "" {
		c.observeDate(d, time.Now())
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes))
	if err != nil {
		return nil, err
	}
	return &answer{status: res.StatusCode, body: b, retryAfter: res.Header.Get("Retry-After")}, nil
}

// transportError is err without the URL that net/http puts in front (the
// URL holds no key, but the line is shorter and names the cause).
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout: " + err.Error()
	}
	return err.Error()
}

// decodeError reads Google's error JSON; another body becomes its status
// text.
func decodeError(op string, a *answer) *APIError {
	e := &APIError{Op: op, HTTPStatus: a.status, RetryAfter: parseRetryAfter(a.retryAfter, time.Now())}
	var g struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(a.body, &g) == nil && (g.Error.Message != "" || g.Error.Status != "") {
		e.Status, e.Message = g.Error.Status, oneLine(g.Error.Message)
	} else {
		e.Message = http.StatusText(a.status)
	}
	return e
}

// oneLine collapses whitespace runs (newlines included) and bounds the
// length, so that an error is one readable line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
