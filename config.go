package geminihook

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
)

// Defaults of the configuration, also used by the local CLI.
const (
	DefaultTopic          = "gemini-job-events"
	DefaultSecret         = "geminihook-signing-secret"
	DefaultJWKSURL        = "https://generativelanguage.googleapis.com/.well-known/jwks.json"
	DefaultCollection     = "gemini_webhook_deliveries"
	DefaultDatabase       = "geminihook"
	DefaultTolerance      = 5 * time.Minute
	DefaultLease          = 30 * time.Second
	DefaultRetention      = 7 * 24 * time.Hour
	DefaultRequestTimeout = 8 * time.Second
	DefaultSecretRefresh  = 5 * time.Minute
	DefaultMaxBodyBytes   = 1 << 20
	DefaultTraceRatio     = 0.1

	// Off disables an optional part: GEMINIHOOK_SECRET=off turns v1 HMAC
	// off, GEMINIHOOK_JWKS_URL=off turns v1a and JWT off.
	Off = "off"

	// MaxJWTLifetime bounds exp - iat of a JWT delivery (plus the
	// tolerance): a token is good for one delivery attempt, not for a day.
	MaxJWTLifetime = time.Hour
)

// Config is geminihook's whole configuration. [LoadConfig] fills it from the
// environment; every field has a default except ProjectID.
type Config struct {
	ProjectID        string        // GOOGLE_CLOUD_PROJECT
	Secret           string        // GEMINIHOOK_SECRET: full name projects/P/secrets/S; "" = v1 off
	SecretRefresh    time.Duration // GEMINIHOOK_SECRET_REFRESH
	RouteTokens      string        // GEMINIHOOK_ROUTE_TOKENS: full secret name; "" = v1a and JWT off
	JWKSURL          string        // GEMINIHOOK_JWKS_URL; "" = v1a and JWT off
	Audience         string        // GEMINIHOOK_JWT_AUDIENCE; "" = JWT off
	Issuer           string        // GEMINIHOOK_JWT_ISSUER; "" = iss not checked
	Tolerance        time.Duration // GEMINIHOOK_TOLERANCE
	Topic            string        // GEMINIHOOK_TOPIC
	BatchTopic       string        // GEMINIHOOK_TOPIC_BATCH; "" = Topic
	InteractionTopic string        // GEMINIHOOK_TOPIC_INTERACTION; "" = Topic
	VideoTopic       string        // GEMINIHOOK_TOPIC_VIDEO; "" = Topic
	QuarantineTopic  string        // GEMINIHOOK_QUARANTINE_TOPIC
	MetadataKeys     string        // GEMINIHOOK_METADATA_ATTRIBUTES: comma-separated user_metadata keys; "" = none
	Ordering         bool          // GEMINIHOOK_ORDERING: the job id is each message's ordering key
	Database         string        // GEMINIHOOK_FIRESTORE_DATABASE
	Collection       string        // GEMINIHOOK_COLLECTION
	Lease            time.Duration // GEMINIHOOK_LEASE
	Retention        time.Duration // GEMINIHOOK_RETENTION
	RequestTimeout   time.Duration // GEMINIHOOK_REQUEST_TIMEOUT
	MaxBodyBytes     int64         // GEMINIHOOK_MAX_BODY_BYTES
	LogLevel         slog.Level    // GEMINIHOOK_LOG_LEVEL
	TraceRatio       float64       // GEMINIHOOK_TRACE_SAMPLE_RATIO; 0 = tracing off
	// Revision is the Cloud Run revision serving (K_REVISION, set by the
	// platform, not a setting): Error Reporting's serviceContext.version.
	Revision string
}

// Variable describes one environment variable that [LoadConfig] reads.
type Variable struct {
	Name     string
	Default  string // "" when there is none
	Required bool
	Doc      string
	// Example is a valid value other than Default: tests set it to check
	// that a variable reaches every composition (the function and serve).
	Example string
}

// variable binds a Variable to the [Config] field it sets.
type variable struct {
	Variable
	set func(c *Config, v string) error
}

// variables is the one list of what geminihook reads from its environment.
// The README table, the Terraform module and [Variables] are kept equal to it
// by tests.
var variables = []variable{
	{Variable{"GOOGLE_CLOUD_PROJECT", "", true,
		"Project of the Firestore database, the Pub/Sub topics and the secret.", "example-project"},
		func(c *Config, v string) error { c.ProjectID = v; return nil }},
	{Variable{"GEMINIHOOK_SECRET", DefaultSecret, false,
		"Secret Manager secret holding the `whsec_` signing secret: an id in the project or `projects/P/secrets/S`. Every enabled version is accepted, so a rotation needs no redeploy. `off` disables `v1` HMAC.", "projects/example/secrets/signing"},
		func(c *Config, v string) error { c.Secret = v; return nil }},
	{Variable{"GEMINIHOOK_SECRET_REFRESH", "5m", false,
		"How often the enabled secret versions are read again. A new version is also picked up at once when a delivery fails to verify; a disabled one stops verifying within this time.", "7m"},
		durationSetter(func(c *Config) *time.Duration { return &c.SecretRefresh })},
	{Variable{"GEMINIHOOK_ROUTE_TOKENS", "", false,
		"Secret Manager secret whose enabled versions are the route tokens of per-request webhooks: an id in the project or `projects/P/secrets/S`. `v1a` and JWT deliveries are accepted only at `/r/<token>` with one of them. Empty: `v1a` and JWT are off, whatever GEMINIHOOK_JWKS_URL says.", "projects/example/secrets/routes"},
		func(c *Config, v string) error { c.RouteTokens = v; return nil }},
	{Variable{"GEMINIHOOK_JWKS_URL", DefaultJWKSURL, false,
		"JWKS with Google's public keys for `v1a` (Ed25519) and JWT (RS256) deliveries, used only with GEMINIHOOK_ROUTE_TOKENS. https only (http only for a loopback host). `off` disables both.", "https://keys.example.test/jwks.json"},
		func(c *Config, v string) error { c.JWKSURL = v; return nil }},
	{Variable{"GEMINIHOOK_JWT_AUDIENCE", "", false,
		"Required `aud` of JWT deliveries. Empty: JWT deliveries are refused.", "https://hooks.example.test/gemini"},
		func(c *Config, v string) error { c.Audience = v; return nil }},
	{Variable{"GEMINIHOOK_JWT_ISSUER", "", false,
		"Required `iss` of JWT deliveries; empty: not checked.", "https://issuer.example.test"},
		func(c *Config, v string) error { c.Issuer = v; return nil }},
	{Variable{"GEMINIHOOK_TOLERANCE", "5m", false,
		"How far `webhook-timestamp` may be from now, in the past or the future.", "3m"},
		durationSetter(func(c *Config) *time.Duration { return &c.Tolerance })},
	{Variable{"GEMINIHOOK_TOPIC", DefaultTopic, false,
		"Pub/Sub topic (id or full name) for job events.", "example-events"},
		func(c *Config, v string) error { c.Topic = v; return nil }},
	{Variable{"GEMINIHOOK_TOPIC_BATCH", "", false,
		"Topic for `batch.*` events; empty: GEMINIHOOK_TOPIC.", "example-batch"},
		func(c *Config, v string) error { c.BatchTopic = v; return nil }},
	{Variable{"GEMINIHOOK_TOPIC_INTERACTION", "", false,
		"Topic for `interaction.*` events; empty: GEMINIHOOK_TOPIC.", "example-interaction"},
		func(c *Config, v string) error { c.InteractionTopic = v; return nil }},
	{Variable{"GEMINIHOOK_TOPIC_VIDEO", "", false,
		"Topic for `video.*` events; empty: GEMINIHOOK_TOPIC.", "example-video"},
		func(c *Config, v string) error { c.VideoTopic = v; return nil }},
	{Variable{"GEMINIHOOK_QUARANTINE_TOPIC", "", false,
		"Topic for authentic deliveries whose body is not a JSON object; empty: GEMINIHOOK_TOPIC + `-quarantine`.", "example-quarantine"},
		func(c *Config, v string) error { c.QuarantineTopic = v; return nil }},
	{Variable{"GEMINIHOOK_METADATA_ATTRIBUTES", "", false,
		"Comma-separated `user_metadata` keys whose string values are lifted into message attributes `meta_<key>`, for subscription filters (at most 8 keys of A-Z a-z 0-9 _ -). Empty: none.", "tenant,job_group"},
		func(c *Config, v string) error {
			keys := splitList(v)
			if err := events.CheckMetadataKeys(keys); err != nil {
				return err
			}
			c.MetadataKeys = strings.Join(keys, ",")
			return nil
		}},
	{Variable{"GEMINIHOOK_ORDERING", "false", false,
		"`true`: each message carries the job id as its ordering key, so that a subscription with message ordering enabled gets one job's events in the order they were published (not Gemini's order: its deliveries are not ordered). A failed publish holds up no other job.", "true"},
		func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			c.Ordering = b
			return nil
		}},
	{Variable{"GEMINIHOOK_FIRESTORE_DATABASE", DefaultDatabase, false,
		"Firestore database of the dedup ledger.", "example-db"},
		func(c *Config, v string) error { c.Database = v; return nil }},
	{Variable{"GEMINIHOOK_COLLECTION", DefaultCollection, false,
		"Firestore collection of the dedup ledger.", "example_deliveries"},
		func(c *Config, v string) error { c.Collection = v; return nil }},
	{Variable{"GEMINIHOOK_LEASE", "30s", false,
		"How long a claimed delivery blocks its duplicates (answered 409) before another attempt may take it over. Longer than GEMINIHOOK_REQUEST_TIMEOUT.", "45s"},
		durationSetter(func(c *Config) *time.Duration { return &c.Lease })},
	{Variable{"GEMINIHOOK_RETENTION", "168h", false,
		"How long a ledger record is kept (its `expire_at`, the TTL field). At least 24h, Gemini's retry window.", "48h"},
		durationSetter(func(c *Config) *time.Duration { return &c.Retention })},
	{Variable{"GEMINIHOOK_REQUEST_TIMEOUT", "8s", false,
		"Deadline of one delivery's work; past it the answer is 503.", "9s"},
		durationSetter(func(c *Config) *time.Duration { return &c.RequestTimeout })},
	{Variable{"GEMINIHOOK_MAX_BODY_BYTES", strconv.Itoa(DefaultMaxBodyBytes), false,
		"Largest accepted body; larger ones are answered 413. At most 4194304, the largest body an event can carry.", "65536"},
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return errors.New("not a positive integer")
			}
			if n > events.MaxBodyBytes {
				return fmt.Errorf("at most %d, the largest body an event can carry", events.MaxBodyBytes)
			}
			c.MaxBodyBytes = n
			return nil
		}},
	{Variable{"GEMINIHOOK_TRACE_SAMPLE_RATIO", "0.1", false,
		"Share of new traces recorded and exported to Cloud Trace, 0 to 1; a delivery whose trace the caller sampled is recorded too. `0` or `off` turns tracing off.", "0.5"},
		func(c *Config, v string) error {
			if strings.EqualFold(v, Off) {
				c.TraceRatio = 0
				return nil
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				return errors.New("want a number from 0 to 1, or off")
			}
			c.TraceRatio = f
			return nil
		}},
	{Variable{"GEMINIHOOK_LOG_LEVEL", "info", false,
		"Lowest level logged: debug, info, warn or error.", "debug"},
		func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
}

// splitList splits a comma-separated list, dropping spaces and empty items.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// metadataKeys is MetadataKeys as a list.
func (c Config) metadataKeys() []string { return splitList(c.MetadataKeys) }

func durationSetter(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("not a positive duration such as 30s or 5m")
		}
		*field(c) = d
		return nil
	}
}

// Variables lists the environment variables [LoadConfig] reads, in the order
// of the README's table.
func Variables() []Variable {
	vs := make([]Variable, len(variables))
	for i, v := range variables {
		vs[i] = v.Variable
	}
	return vs
}

// ErrConfig is wrapped by every error [LoadConfig] returns.
var ErrConfig = errors.New("geminihook: invalid configuration")

// LoadConfig reads the configuration through getenv (os.Getenv in
// production) and applies defaults. It reports every missing or invalid
// variable at once, in one error that wraps [ErrConfig].
func LoadConfig(getenv func(string) string) (Config, error) {
	var c Config
	var problems []string
	for _, v := range variables {
		val := strings.TrimSpace(getenv(v.Name))
		if val == "" {
			if v.Required {
				problems = append(problems, v.Name+" is required: "+v.Doc)
				continue
			}
			val = v.Default
		}
		if val == "" {
			continue
		}
		if err := v.set(&c, val); err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q: %v", v.Name, val, err))
		}
	}
	c.Revision = strings.TrimSpace(getenv("K_REVISION"))
	problems = append(problems, c.resolve()...)
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("%w:\n  %s", ErrConfig, strings.Join(problems, "\n  "))
	}
	return c, nil
}

// secretName turns a secret id into its full name in the project and "off"
// into "".
func (c *Config) secretName(variable, v string, problems *[]string) string {
	switch {
	case strings.EqualFold(v, Off):
		return ""
	case v == "" || strings.HasPrefix(v, "projects/"):
		return v
	case strings.Contains(v, "/"):
		*problems = append(*problems, fmt.Sprintf("%s=%q: want a secret id or projects/P/secrets/S", variable, v))
		return v
	case c.ProjectID != "":
		return "projects/" + c.ProjectID + "/secrets/" + v
	}
	return v
}

// Asymmetric reports whether per-request deliveries (v1a, JWT) can be
// accepted: that needs both the route tokens and the JWKS.
func (c Config) Asymmetric() bool { return c.RouteTokens != "" && c.JWKSURL != "" }

// JWT reports whether JWT deliveries can be accepted: Asymmetric and an
// audience to check.
func (c Config) JWT() bool { return c.Asymmetric() && c.Audience != "" }

// resolve turns ids into full resource names, applies the "off" switches
// and checks the rules that involve several variables.
func (c *Config) resolve() []string {
	var problems []string
	c.Secret = c.secretName("GEMINIHOOK_SECRET", c.Secret, &problems)
	c.RouteTokens = c.secretName("GEMINIHOOK_ROUTE_TOKENS", c.RouteTokens, &problems)
	if strings.EqualFold(c.JWKSURL, Off) {
		c.JWKSURL = ""
	} else if c.JWKSURL != "" && !verify.SafeJWKSURL(c.JWKSURL) {
		problems = append(problems, fmt.Sprintf("GEMINIHOOK_JWKS_URL=%q: want an absolute https URL (http only for a loopback host) or %q", c.JWKSURL, Off))
	}
	if c.Secret == "" && !c.Asymmetric() {
		problems = append(problems, "GEMINIHOOK_SECRET is off and GEMINIHOOK_ROUTE_TOKENS or GEMINIHOOK_JWKS_URL is not set: no delivery could ever verify")
	}
	if c.QuarantineTopic == "" && c.Topic != "" {
		c.QuarantineTopic = c.Topic + "-quarantine"
	}
	if c.Lease != 0 && c.RequestTimeout != 0 && c.Lease <= c.RequestTimeout {
		problems = append(problems, fmt.Sprintf("GEMINIHOOK_LEASE (%v) must be longer than GEMINIHOOK_REQUEST_TIMEOUT (%v): a lease must outlive the request that holds it", c.Lease, c.RequestTimeout))
	}
	if c.Retention != 0 && c.Retention < 24*time.Hour {
		problems = append(problems, fmt.Sprintf("GEMINIHOOK_RETENTION (%v) must be at least 24h: Gemini retries a delivery for 24 hours", c.Retention))
	}
	return problems
}

// servesEntryPoint reports whether the process is a deployed GeminiWebhook:
// Cloud Functions (and our Cloud Run service) name the function the
// framework serves in FUNCTION_TARGET. Local runs and tests leave it
// unset.
func servesEntryPoint(getenv func(string) string) bool {
	return getenv("FUNCTION_TARGET") == EntryPoint
}
