package geminihook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/geminihook/geminihook/internal/cloudlog"
	"github.com/geminihook/geminihook/internal/gemini"
)

// The watcher is a second entry point in the same source: invoked by Cloud
// Scheduler (with an OIDC token that the platform checks: the function is
// private), it lists the project's Gemini webhooks with an API key kept in
// Secret Manager and writes one log line per webhook with its state, so
// that a log-based metric or alert sees a webhook that Gemini disabled
// after failed deliveries. With GEMINIHOOK_WATCH_AUTO_REENABLE=true it
// also re-enables such a webhook. It answers 200 with a small JSON
// summary, 503 when Secret Manager or the Gemini API fails (the scheduler
// records the failure and tries again on its next run).

// WatchEntryPoint is the watcher's name for functions-framework and for
// Cloud Functions' --entry-point.
const WatchEntryPoint = "GeminiWebhookWatch"

// Log messages and labels of the watcher.
const (
	WatchMessageState     = "webhook state"
	WatchMessageReenabled = "webhook re-enabled"
	WatchLabelID          = "webhook_id"
	WatchLabelState       = "webhook_state"
)

// watchTimeout bounds one run: the key, the list and the re-enables.
const watchTimeout = 60 * time.Second

// WatchConfig is the watcher's configuration ([LoadWatchConfig]).
type WatchConfig struct {
	ProjectID    string     // GOOGLE_CLOUD_PROJECT
	APIKeySecret string     // GEMINIHOOK_WATCH_API_KEY_SECRET, full name projects/P/secrets/S
	AutoReenable bool       // GEMINIHOOK_WATCH_AUTO_REENABLE
	LogLevel     slog.Level // GEMINIHOOK_LOG_LEVEL
}

// WatchVariables lists the environment variables [LoadWatchConfig] reads,
// for the deployment's documentation and tests.
func WatchVariables() []Variable {
	return []Variable{
		{"GOOGLE_CLOUD_PROJECT", "", false,
			"Project of the secret when GEMINIHOOK_WATCH_API_KEY_SECRET is an id.", "example-project"},
		{"GEMINIHOOK_WATCH_API_KEY_SECRET", "", true,
			"Secret Manager secret whose latest version is the Gemini API key the watcher lists the webhooks with: an id in the project or `projects/P/secrets/S`.", "projects/example/secrets/gemini-api-key"},
		{"GEMINIHOOK_WATCH_AUTO_REENABLE", "false", false,
			"`true`: re-enable a webhook that Gemini disabled after failed deliveries (state `disabled_due_to_failed_deliveries`), and log that. A webhook disabled by its owner is left alone.", "true"},
		{"GEMINIHOOK_LOG_LEVEL", "info", false,
			"Lowest level logged: debug, info, warn or error.", "debug"},
	}
}

var (
	watchSecretName = regexp.MustCompile(`^projects/[a-z0-9.:-]{1,100}/secrets/[A-Za-z0-9_-]{1,255}$`)
	watchSecretID   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// LoadWatchConfig reads the watcher's configuration through getenv. Errors
// wrap [ErrConfig] and name every problem at once.
func LoadWatchConfig(getenv func(string) string) (WatchConfig, error) {
	c := WatchConfig{ProjectID: strings.TrimSpace(getenv("GOOGLE_CLOUD_PROJECT"))}
	var problems []string
	switch s := strings.TrimSpace(getenv("GEMINIHOOK_WATCH_API_KEY_SECRET")); {
	case s == "":
		problems = append(problems, "GEMINIHOOK_WATCH_API_KEY_SECRET is required: the Secret Manager secret holding the Gemini API key")
	case watchSecretName.MatchString(s):
		c.APIKeySecret = s
	case watchSecretID.MatchString(s) && c.ProjectID != "":
		c.APIKeySecret = "projects/" + c.ProjectID + "/secrets/" + s
	case watchSecretID.MatchString(s):
		problems = append(problems, fmt.Sprintf("GEMINIHOOK_WATCH_API_KEY_SECRET=%q is a secret id: set GOOGLE_CLOUD_PROJECT too, or give projects/P/secrets/S", s))
	default:
		problems = append(problems, fmt.Sprintf("GEMINIHOOK_WATCH_API_KEY_SECRET=%q: want a secret id or projects/P/secrets/S", s))
	}
	if v := strings.TrimSpace(getenv("GEMINIHOOK_WATCH_AUTO_REENABLE")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("GEMINIHOOK_WATCH_AUTO_REENABLE=%q: want true or false", v))
		}
		c.AutoReenable = b
	}
	if v := strings.TrimSpace(getenv("GEMINIHOOK_LOG_LEVEL")); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			problems = append(problems, fmt.Sprintf("GEMINIHOOK_LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	if len(problems) > 0 {
		return WatchConfig{}, fmt.Errorf("%w:\n  %s", ErrConfig, strings.Join(problems, "\n  "))
	}
	return c, nil
}

// WatchParts are what a [Watcher] is built from besides its configuration.
type WatchParts struct {
	// SecretManager reads the API key; required.
	SecretManager *secretmanager.Client
	// API tunes the Gemini client (BaseURL for tests and proxies, retries).
	API gemini.Options
	// Logger; nil: discard.
	Logger *slog.Logger
	// SecretTimeout bounds the read of the key (Secret Manager retries an
	// unavailable service by itself); default 10 s.
	SecretTimeout time.Duration
}

// Watcher is the watcher's http.Handler.
type Watcher struct {
	cfg WatchConfig
	sm  *secretmanager.Client
	api gemini.Options
	log *slog.Logger
	// keyTimeout bounds the read of the key.
	keyTimeout time.Duration
}

// NewWatcher returns a [Watcher]. It makes no network call.
func NewWatcher(cfg WatchConfig, p WatchParts) (*Watcher, error) {
	if p.SecretManager == nil {
		return nil, fmt.Errorf("%w: the watcher needs a Secret Manager client", ErrConfig)
	}
	if cfg.APIKeySecret == "" {
		return nil, fmt.Errorf("%w: GEMINIHOOK_WATCH_API_KEY_SECRET is not set", ErrConfig)
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	api := p.API
	if api.MaxRetryWait == 0 {
		api.MaxRetryWait = 20 * time.Second
	}
	if api.UserAgent == "" {
		api.UserAgent = "geminihook-watch"
	}
	keyTimeout := p.SecretTimeout
	if keyTimeout <= 0 {
		keyTimeout = 10 * time.Second
	}
	return &Watcher{cfg: cfg, sm: p.SecretManager, api: api, log: log, keyTimeout: keyTimeout}, nil
}

// NewWatcherFromEnv builds the production [Watcher]: configuration through
// getenv, a Secret Manager client with the runtime's credentials, logs on w.
func NewWatcherFromEnv(ctx context.Context, getenv func(string) string, w io.Writer) (*Watcher, error) {
	cfg, err := LoadWatchConfig(getenv)
	if err != nil {
		return nil, err
	}
	sm, err := secretmanager.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("secret manager client: %w", err)
	}
	return NewWatcher(cfg, WatchParts{SecretManager: sm, Logger: NewLogger(w, Config{ProjectID: cfg.ProjectID, LogLevel: cfg.LogLevel})})
}

// WatchSummary is the watcher's 200 answer.
type WatchSummary struct {
	Webhooks     int            `json:"webhooks"`
	States       map[string]int `json:"states"`
	Disabled     []string       `json:"disabled,omitempty"`
	Reenabled    []string       `json:"reenabled,omitempty"`
	AutoReenable bool           `json:"auto_reenable"`
}

var watchCRC = crc32.MakeTable(crc32.Castagnoli)

// apiKey reads the latest version of the key's secret.
func (wt *Watcher) apiKey(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wt.keyTimeout)
	defer cancel()
	res, err := wt.sm.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: wt.cfg.APIKeySecret + "/versions/latest"})
	if err != nil {
		return "", fmt.Errorf("reading the API key from %s (the runtime service account needs roles/secretmanager.secretAccessor on it): %w", wt.cfg.APIKeySecret, err)
	}
	data := res.GetPayload().GetData()
	if sum := res.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, watchCRC)) != *sum {
		return "", fmt.Errorf("reading the API key from %s: the payload does not match its checksum", wt.cfg.APIKeySecret)
	}
	key := strings.TrimSpace(string(data))
	if key == "" {
		return "", fmt.Errorf("the latest version of %s is empty", wt.cfg.APIKeySecret)
	}
	return key, nil
}

func (wt *Watcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeWatchJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "GET or POST"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), watchTimeout)
	defer cancel()
	sum, err := wt.Run(ctx)
	if err != nil {
		cloudlog.ReportError(ctx, wt.log, "webhook watch failed", err)
		writeWatchJSON(w, http.StatusServiceUnavailable, struct {
			Error string `json:"error"`
			*WatchSummary
		}{err.Error(), sum})
		return
	}
	writeWatchJSON(w, http.StatusOK, sum)
}

func writeWatchJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Run does one watch: reads the key, lists the webhooks, logs each one's
// state and re-enables those Gemini disabled when AutoReenable is set. It
// returns what it saw (nil when the list failed) and an error when Secret
// Manager or the API failed.
func (wt *Watcher) Run(ctx context.Context) (*WatchSummary, error) {
	key, err := wt.apiKey(ctx)
	if err != nil {
		return nil, err
	}
	client, err := gemini.New(key, wt.api)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	hooks, err := client.List(ctx, gemini.MaxPageSize)
	if err != nil {
		return nil, fmt.Errorf("listing the webhooks: %w", err)
	}
	sum := &WatchSummary{Webhooks: len(hooks), States: map[string]int{}, AutoReenable: wt.cfg.AutoReenable}
	var errs []error
	for _, h := range hooks {
		sum.States[h.State]++
		level := slog.LevelInfo
		if h.State != gemini.StateEnabled {
			level = slog.LevelWarn
			sum.Disabled = append(sum.Disabled, h.ID)
		}
		wt.log.LogAttrs(ctx, level, WatchMessageState,
			cloudlog.Label(WatchLabelID, h.ID), cloudlog.Label(WatchLabelState, h.State),
			slog.String("uri", h.URI), slog.Any("subscribed_events", h.SubscribedEvents), slog.String("name", h.Name))
		if h.State != gemini.StateDisabledFailed || !wt.cfg.AutoReenable {
			continue
		}
		after, err := client.Enable(ctx, h.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("re-enabling webhook %s: %w", h.ID, err))
			continue
		}
		sum.Reenabled = append(sum.Reenabled, h.ID)
		wt.log.LogAttrs(ctx, slog.LevelWarn, WatchMessageReenabled,
			cloudlog.Label(WatchLabelID, h.ID), cloudlog.Label(WatchLabelState, after.State),
			slog.String("previous_state", h.State), slog.String("uri", h.URI))
	}
	return sum, errors.Join(errs...)
}

// watchFunction builds the production [Watcher] on first use, as function
// does the receiver; a failed build is answered 503 and retried after
// buildRetry.
var watchFunction = &lazy{
	build: func(ctx context.Context) (http.Handler, error) {
		wt, err := NewWatcherFromEnv(context.WithoutCancel(ctx), os.Getenv, os.Stdout)
		if err != nil {
			return nil, err // not wt: a nil *Watcher is a non-nil http.Handler
		}
		return wt, nil
	},
	now: time.Now,
	log: slog.New(cloudlog.NewHandler(os.Stdout, &cloudlog.Options{Service: "geminihook-watch"})),
}

func serveWatchLazily(w http.ResponseWriter, r *http.Request) { watchFunction.serveJSON(w, r) }

// serveJSON is ServeHTTP for the watcher: a build failure (logged by
// handler) is answered 503 with a JSON error, and no delivery line.
func (l *lazy) serveJSON(w http.ResponseWriter, r *http.Request) {
	h, err := l.handler(r.Context())
	if err != nil {
		w.Header().Set("Retry-After", retryAfter503)
		writeWatchJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the watcher cannot start; its log says why"})
		return
	}
	h.ServeHTTP(w, r)
}
