package main

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/geminihook/geminihook/examples/internal/tfcheck"
)

// TestTerraform: the push subscription signs its pushes with an OIDC token
// for the push service account and the audience the handler is given
// (PUSH_AUDIENCE, PUSH_SERVICE_ACCOUNT), Cloud Run admits only that
// account and accepts the audience, the endpoint is the handler's path,
// and refused messages end on a dead-letter topic Pub/Sub may publish to.
func TestTerraform(t *testing.T) {
	m := tfcheck.Load(t, "terraform")
	for _, p := range m.Problems() {
		t.Error(p)
	}
	sub := m.Resource(t, "google_pubsub_subscription", "push")
	run := m.Resource(t, "google_cloud_run_v2_service", "consumer")
	invoker := m.Resource(t, "google_cloud_run_v2_service_iam_member", "push_invoker")

	env := map[string]hclsyntax.Expression{}
	for _, b := range tfcheck.Block(tfcheck.Block(run, "template"), "containers").Blocks {
		if b.Type == "env" {
			env[tfcheck.String(b.Body.Attributes["name"].Expr)] = b.Body.Attributes["value"].Expr
		}
	}
	endpoint := tfcheck.Attr(sub, "push_config", "push_endpoint")
	checks := []struct {
		what string
		ok   bool
	}{
		{"OIDC token as the push account", tfcheck.Refers(tfcheck.Attr(sub, "push_config", "oidc_token", "service_account_email"), "google_service_account.push.email")},
		{"OIDC audience var.audience", tfcheck.Refers(tfcheck.Attr(sub, "push_config", "oidc_token", "audience"), "var.audience")},
		{"the handler checks that audience", tfcheck.Refers(env["PUSH_AUDIENCE"], "var.audience")},
		{"the handler checks that account", tfcheck.Refers(env["PUSH_SERVICE_ACCOUNT"], "google_service_account.push.email")},
		{"Cloud Run accepts the audience", tfcheck.Refers(tfcheck.Attr(run, "custom_audiences"), "var.audience")},
		{"endpoint is the service's /events", tfcheck.Refers(endpoint, "google_cloud_run_v2_service.consumer.uri") &&
			strings.HasSuffix(string(m.Files["main.tf"][endpoint.Range().Start.Byte:endpoint.Range().End.Byte]), `/events"`)},
		{"only the push account invokes", tfcheck.String(tfcheck.Attr(invoker, "role")) == "roles/run.invoker" &&
			tfcheck.Refers(tfcheck.Attr(invoker, "member"), "google_service_account.push.email") &&
			tfcheck.Refers(tfcheck.Attr(invoker, "name"), "google_cloud_run_v2_service.consumer.name")},
		{"no public invoker", !strings.Contains(string(m.Files["main.tf"]), "allUsers")},
		{"dead letters", tfcheck.Refers(tfcheck.Attr(sub, "dead_letter_policy", "dead_letter_topic"), "google_pubsub_topic.dead_letter")},
		{"Pub/Sub may publish dead letters", tfcheck.String(tfcheck.Attr(m.Resource(t, "google_pubsub_topic_iam_member", "dead_letter_publisher"), "role")) == "roles/pubsub.publisher"},
		{"Pub/Sub may mint the push tokens", tfcheck.String(tfcheck.Attr(m.Resource(t, "google_service_account_iam_member", "push_token_creator"), "role")) == "roles/iam.serviceAccountTokenCreator"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("terraform/main.tf: %s: not so", c.what)
		}
	}
}
