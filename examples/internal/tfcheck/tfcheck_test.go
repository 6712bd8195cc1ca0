package tfcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
}

const good = `variable "topic" {
  type = string
}

resource "google_pubsub_topic" "t" {
  name = var.topic
}

resource "google_pubsub_subscription" "s" {
  topic = google_pubsub_topic.t.id

  dead_letter_policy {
    max_delivery_attempts = 5
  }
}
`

// TestCheckerCatchesMistakes: each check of the package fires on the
// mistake it is for, and stays quiet on correct Terraform.
func TestCheckerCatchesMistakes(t *testing.T) {
	dir := t.TempDir()
	write := func(src string) {
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(good)
	r := &recorder{TB: t}
	m := Load(r, dir)
	if len(r.errors) > 0 || len(m.Problems()) > 0 {
		t.Fatalf("correct Terraform reported: %v %v", r.errors, m.Problems())
	}
	sub := m.Resource(t, "google_pubsub_subscription", "s")
	if !Refers(Attr(sub, "topic"), "google_pubsub_topic.t") || Refers(Attr(sub, "topic"), "google_pubsub_topic.u") {
		t.Error("Refers is wrong")
	}
	if v := Literal(Attr(sub, "dead_letter_policy", "max_delivery_attempts")); v.IsNull() || v.AsBigFloat().String() != "5" {
		t.Errorf("nested literal = %#v", v)
	}
	if Attr(sub, "retry_policy", "minimum_backoff") != nil || String(Attr(sub, "topic")) != "" {
		t.Error("Attr or String invents a value")
	}
	if got := m.ResourcesOf("google_pubsub_topic"); !slices.Equal(got, []string{"t"}) {
		t.Errorf("ResourcesOf = %v", got)
	}

	write(good + "resource \"google_pubsub_topic\" \"u\" {\n  name = var.missing\n  labels = { a = google_thing.nope.id }\n}\n")
	m = Load(r, dir)
	if p := m.Problems(); len(p) != 2 {
		t.Errorf("unresolved references reported as %v, want var.missing and google_thing.nope", p)
	}

	write("resource \"google_pubsub_topic\" \"t\" {\nname   =   \"x\"\n}\n")
	r = &recorder{TB: t}
	Load(r, dir)
	if len(r.errors) != 1 {
		t.Errorf("unformatted file reported as %v, want one error", r.errors)
	}
}
