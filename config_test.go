package geminihook

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(env("GOOGLE_CLOUD_PROJECT", "p1"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ProjectID:       "p1",
		Secret:          "projects/p1/secrets/" + DefaultSecret,
		SecretRefresh:   DefaultSecretRefresh,
		JWKSURL:         DefaultJWKSURL,
		Tolerance:       DefaultTolerance,
		Topic:           DefaultTopic,
		QuarantineTopic: DefaultTopic + "-quarantine",
		Database:        DefaultDatabase,
		Collection:      DefaultCollection,
		Lease:           DefaultLease,
		Retention:       DefaultRetention,
		RequestTimeout:  DefaultRequestTimeout,
		MaxBodyBytes:    DefaultMaxBodyBytes,
		TraceRatio:      DefaultTraceRatio,
	}
	if c != want {
		t.Errorf("LoadConfig = %+v\nwant %+v", c, want)
	}
}

func TestLoadConfigValues(t *testing.T) {
	c, err := LoadConfig(env(
		"GOOGLE_CLOUD_PROJECT", "p1",
		"GEMINIHOOK_SECRET", "projects/other/secrets/s",
		"GEMINIHOOK_JWKS_URL", "off",
		"GEMINIHOOK_TOLERANCE", "90s",
		"GEMINIHOOK_TOPIC", "t",
		"GEMINIHOOK_TOPIC_VIDEO", "v",
		"GEMINIHOOK_LEASE", "1m",
		"GEMINIHOOK_MAX_BODY_BYTES", "2048",
		"GEMINIHOOK_LOG_LEVEL", "debug",
	))
	if err != nil {
		t.Fatal(err)
	}
	if c.Secret != "projects/other/secrets/s" || c.JWKSURL != "" || c.Tolerance != 90*time.Second ||
		c.QuarantineTopic != "t-quarantine" || c.VideoTopic != "v" || c.Lease != time.Minute ||
		c.MaxBodyBytes != 2048 || c.LogLevel.String() != "DEBUG" {
		t.Errorf("LoadConfig = %+v", c)
	}
	if got := c.kindTopics(); len(got) != 1 || got["video"] != "v" {
		t.Errorf("kindTopics = %v, want only video", got)
	}
}

// TestLoadConfigReportsEverything checks that every problem is reported in
// one error, so a broken deployment is fixed in one round.
func TestLoadConfigReportsEverything(t *testing.T) {
	_, err := LoadConfig(env(
		"GEMINIHOOK_TOLERANCE", "soon",
		"GEMINIHOOK_MAX_BODY_BYTES", "-1",
		"GEMINIHOOK_LOG_LEVEL", "loud",
		"GEMINIHOOK_LEASE", "5s",
		"GEMINIHOOK_RETENTION", "1h",
		"GEMINIHOOK_JWKS_URL", "ftp://x",
	))
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	for _, want := range []string{
		"GOOGLE_CLOUD_PROJECT is required", "GEMINIHOOK_TOLERANCE", "GEMINIHOOK_MAX_BODY_BYTES",
		"GEMINIHOOK_LOG_LEVEL", "GEMINIHOOK_LEASE", "GEMINIHOOK_RETENTION", "GEMINIHOOK_JWKS_URL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestLoadConfigNothingVerifies(t *testing.T) {
	for _, kv := range [][]string{
		{"GEMINIHOOK_SECRET", "off", "GEMINIHOOK_JWKS_URL", "OFF"},
		{"GEMINIHOOK_SECRET", "off"}, // the JWKS alone turns nothing on: no route tokens
		{"GEMINIHOOK_SECRET", "off", "GEMINIHOOK_ROUTE_TOKENS", "tokens", "GEMINIHOOK_JWKS_URL", "off"},
	} {
		_, err := LoadConfig(env(append([]string{"GOOGLE_CLOUD_PROJECT", "p"}, kv...)...))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "no delivery could ever verify") {
			t.Errorf("%v: err = %v, want the nothing-verifies error", kv, err)
		}
	}
}

func TestLoadConfigPerRequest(t *testing.T) {
	tests := []struct {
		kv              []string
		asymmetric, jwt bool
	}{
		{nil, false, false},
		{[]string{"GEMINIHOOK_JWT_AUDIENCE", "a"}, false, false},
		{[]string{"GEMINIHOOK_ROUTE_TOKENS", "t"}, true, false},
		{[]string{"GEMINIHOOK_ROUTE_TOKENS", "t", "GEMINIHOOK_JWT_AUDIENCE", "a"}, true, true},
		{[]string{"GEMINIHOOK_ROUTE_TOKENS", "t", "GEMINIHOOK_JWT_AUDIENCE", "a", "GEMINIHOOK_JWKS_URL", "off"}, false, false},
	}
	for _, tt := range tests {
		c, err := LoadConfig(env(append([]string{"GOOGLE_CLOUD_PROJECT", "p"}, tt.kv...)...))
		if err != nil {
			t.Fatalf("%v: %v", tt.kv, err)
		}
		if c.Asymmetric() != tt.asymmetric || c.JWT() != tt.jwt {
			t.Errorf("%v: Asymmetric, JWT = %v, %v; want %v, %v", tt.kv, c.Asymmetric(), c.JWT(), tt.asymmetric, tt.jwt)
		}
		if tt.asymmetric && c.RouteTokens != "projects/p/secrets/t" {
			t.Errorf("%v: RouteTokens = %q, want the full secret name", tt.kv, c.RouteTokens)
		}
	}
}

func TestJWKSURLPolicy(t *testing.T) {
	for u, want := range map[string]bool{
		"https://generativelanguage.googleapis.com/.well-known/jwks.json": true,
		"https://keys.example.test/jwks":                                  true,
		"http://127.0.0.1:8080/.well-known/jwks.json":                     true,
		"http://[::1]:9/jwks":                                             true,
		"http://localhost/jwks":                                           true,
		"http://keys.example.test/jwks":                                   false,
		"http://10.0.0.1/jwks":                                            false,
		"file:///etc/passwd":                                              false,
		"https://user:pw@keys.example.test/jwks":                          false,
		"//keys.example.test/jwks":                                        false,
		"not a url":                                                       false,
	} {
		if got := verify.SafeJWKSURL(u); got != want {
			t.Errorf("verify.SafeJWKSURL(%q) = %v, want %v", u, got, want)
		}
	}
}

// TestREADMEConfigTable keeps the README's configuration table equal to
// Variables: same names, order, defaults and descriptions.
func TestREADMEConfigTable(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| (.*?) \\| (.*) \\|$")
	var got []Variable
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		def := strings.Trim(m[2], "`")
		v := Variable{Name: m[1], Doc: m[3]}
		if def == "required" {
			v.Required = true
		} else if def != "" {
			v.Default = def
		}
		got = append(got, v)
	}
	want := Variables()
	var table strings.Builder
	for _, v := range want {
		table.WriteString(readmeRow(v) + "\n")
	}
	if len(got) != len(want) {
		t.Fatalf("README has %d configuration rows, Config has %d; the table should be:\n%s", len(got), len(want), table.String())
	}
	for i := range want {
		want[i].Example = "" // not in the table
		if got[i] != want[i] {
			t.Errorf("README row %d = %+v\nwant %s", i, got[i], readmeRow(want[i]))
		}
	}
}

func readmeRow(v Variable) string {
	def := ""
	switch {
	case v.Required:
		def = "required"
	case v.Default != "":
		def = "`" + v.Default + "`"
	}
	return "| `" + v.Name + "` | " + def + " | " + v.Doc + " |"
}

func TestLoadConfigMaxBodyBytesBounds(t *testing.T) {
	for v, ok := range map[string]bool{
		"1": true, strconv.Itoa(events.MaxBodyBytes): true,
		strconv.Itoa(events.MaxBodyBytes + 1): false, "0": false, "1MiB": false,
	} {
		_, err := LoadConfig(env("GOOGLE_CLOUD_PROJECT", "p", "GEMINIHOOK_MAX_BODY_BYTES", v))
		if (err == nil) != ok {
			t.Errorf("GEMINIHOOK_MAX_BODY_BYTES=%s: err = %v, want ok=%v", v, err, ok)
		}
	}
}

// TestVariableExamples: every variable has an Example that is valid and
// changes the configuration (the examples are what tests use to check
// that a variable reaches every composition).
func TestVariableExamples(t *testing.T) {
	base, err := LoadConfig(env("GOOGLE_CLOUD_PROJECT", "p"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Variables() {
		if v.Example == "" || v.Example == v.Default {
			t.Errorf("%s: Example %q, want a valid value other than the default", v.Name, v.Example)
			continue
		}
		c, err := LoadConfig(env("GOOGLE_CLOUD_PROJECT", "p", v.Name, v.Example))
		if err != nil {
			t.Errorf("%s=%s: %v", v.Name, v.Example, err)
			continue
		}
		if c == base {
			t.Errorf("%s=%s changes nothing", v.Name, v.Example)
		}
	}
}

// TestRevisionReachesErrorReporting: the platform's K_REVISION is the
// serviceContext.version of the function's error reports.
func TestRevisionReachesErrorReporting(t *testing.T) {
	c, err := LoadConfig(env("GOOGLE_CLOUD_PROJECT", "p", "K_REVISION", "geminihook-00042-abc"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Revision != "geminihook-00042-abc" {
		t.Fatalf("Revision = %q", c.Revision)
	}
	var b strings.Builder
	cloudlogReport(NewLogger(&b, c))
	if !strings.Contains(b.String(), `"version":"geminihook-00042-abc"`) || !strings.Contains(b.String(), `"serviceContext"`) {
		t.Errorf("error report without the revision as serviceContext.version:\n%s", b.String())
	}
}

// TestConfigTopics: every topic a Service publishes to, as configured, once.
func TestConfigTopics(t *testing.T) {
	c, err := LoadConfig(env("GOOGLE_CLOUD_PROJECT", "p", "GEMINIHOOK_TOPIC_BATCH", "b", "GEMINIHOOK_TOPIC_VIDEO", DefaultTopic))
	if err != nil {
		t.Fatal(err)
	}
	got, want := strings.Join(c.Topics(), ","), DefaultTopic+",b,"+DefaultTopic+"-quarantine"
	if got != want {
		t.Errorf("Topics() = %s, want %s", got, want)
	}
}
