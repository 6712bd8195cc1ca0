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

func TestLoadConfigBothSchemesOff(t *testing.T) {
	_, err := LoadConfig(env("GOOGLE_CLOUD_PROJECT", "p", "GEMINIHOOK_SECRET", "off", "GEMINIHOOK_JWKS_URL", "OFF"))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "both off") {
		t.Fatalf("err = %v, want both-off error", err)
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
