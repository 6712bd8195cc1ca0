package terraform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/geminihook/geminihook"
)

// deploy_as = "cloud_run": the Cloud Run service that receives deliveries
// in place of the function, checked as the function is.

var cloudRun = map[string]cty.Value{"deploy_as": cty.StringVal("cloud_run")}

// runContainer is the Cloud Run service's one container.
func runContainer(t *testing.T, m *module) (template, container *hclsyntax.Body) {
	t.Helper()
	template = block(mustResource(t, m, "google_cloud_run_v2_service.webhook"), "template")
	if template == nil {
		t.Fatal("the Cloud Run service has no template")
	}
	n := 0
	for _, b := range template.Blocks {
		if b.Type == "containers" {
			n++
			container = b.Body
		}
	}
	if n != 1 {
		t.Fatalf("%d containers, want one", n)
	}
	return template, container
}

// renderRunEnvironment evaluates the container's env blocks: a dynamic
// "env" over a map, each with name = env.key and value = env.value.
func renderRunEnvironment(t *testing.T, m *module, overrides map[string]cty.Value) map[string]string {
	t.Helper()
	_, c := runContainer(t, m)
	var dyn *hclsyntax.Block
	for _, b := range c.Blocks {
		switch {
		case b.Type == "env":
			t.Fatal("a static env block: the environment is one map, local.run_environment")
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "env":
			dyn = b
		}
	}
	if dyn == nil {
		t.Fatal("no dynamic \"env\" block")
	}
	content := block(dyn.Body, "content")
	for attr, want := range map[string]string{"name": "key", "value": "value"} {
		tr, diags := hcl.AbsTraversalForExpr(content.Attributes[attr].Expr)
		if diags.HasErrors() || traversalString(tr) != "env."+want {
			t.Errorf("env %s is not env.%s", attr, want)
		}
	}
	v := evalWith(t, m, dyn.Body.Attributes["for_each"].Expr, withOverrides(cloudRun, overrides), nil)
	env := map[string]string{}
	for k, val := range v.AsValueMap() {
		env[k] = val.AsString()
	}
	return env
}

// The service's environment is the function's, for every setting, plus
// FUNCTION_TARGET = the entry point: the image holds both entry points of
// the source, and Cloud Functions, which names the target for a function,
// is not in the way here.
func TestCloudRunEnvironmentIsTheFunctions(t *testing.T) {
	m := mustLoad(t)
	for _, overrides := range []map[string]cty.Value{
		nil,
		{"per_request_webhooks": cty.True, "jwt_audience": cty.StringVal("https://example.invalid/aud")},
		{"hmac_enabled": cty.False, "per_request_webhooks": cty.True, "per_kind_topics": cty.True},
		{"metadata_attributes": cty.ListVal([]cty.Value{cty.StringVal("tenant")}), "message_ordering": cty.True, "trace_sample_ratio": cty.NumberIntVal(0)},
	} {
		fn := renderEnvironment(t, m, withOverrides(cloudRun, overrides))
		run := renderRunEnvironment(t, m, overrides)
		if run["FUNCTION_TARGET"] != geminihook.EntryPoint {
			t.Errorf("FUNCTION_TARGET = %q, want geminihook.EntryPoint %q", run["FUNCTION_TARGET"], geminihook.EntryPoint)
		}
		delete(run, "FUNCTION_TARGET")
		var got, want []string
		for k, v := range run {
			got = append(got, k+"="+v)
		}
		for k, v := range fn {
			want = append(want, k+"="+v)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("with %v the Cloud Run service's environment is\n%v\nthe function's\n%v", overrides, got, want)
		}
		// And the function reads it as a valid configuration.
		if _, err := geminihook.LoadConfig(func(k string) string { return run[k] }); err != nil {
			t.Errorf("with %v the function refuses the Cloud Run environment: %v", overrides, err)
		}
	}
}

// The service runs as the function's service account, with its timeout
// (request deadline + 2 s), its size, scaling and concurrency, and the
// image the function's build made, read after the function's update.
func TestCloudRunServiceIsTheFunction(t *testing.T) {
	m := mustLoad(t)
	template, c := runContainer(t, m)
	sa := template.Attributes["service_account"]
	if sa == nil || !refersTo(sa.Expr, "google_service_account", "function") {
		t.Error("the Cloud Run service does not run as google_service_account.function")
	}
	fnTimeout := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "service_config").Attributes["timeout_seconds"].Expr
	for _, rt := range []int64{1, 8, 60} {
		o := withOverrides(cloudRun, map[string]cty.Value{"request_timeout_seconds": cty.NumberIntVal(rt)})
		got := evalWith(t, m, template.Attributes["timeout"].Expr, o, nil).AsString()
		want := evalWith(t, m, fnTimeout, o, nil)
		if got != want.AsBigFloat().Text('f', 0)+"s" || mustInt(t, want) != rt+2 {
			t.Errorf("request_timeout_seconds = %d: Cloud Run timeout %q, the function's %v s; want %d s for both", rt, got, want.AsBigFloat(), rt+2)
		}
	}
	for attr, variable := range map[string]string{"max_instance_request_concurrency": "max_instance_request_concurrency"} {
		if !refersTo(template.Attributes[attr].Expr, "var", variable) {
			t.Errorf("template.%s is not var.%s", attr, variable)
		}
	}
	scaling := block(template, "scaling")
	for attr, variable := range map[string]string{"min_instance_count": "min_instances", "max_instance_count": "max_instances"} {
		if scaling == nil || !refersTo(scaling.Attributes[attr].Expr, "var", variable) {
			t.Errorf("scaling.%s is not var.%s", attr, variable)
		}
	}
	limits := evalWith(t, m, block(c, "resources").Attributes["limits"].Expr, cloudRun, nil)
	if limits.GetAttr("cpu").AsString() != "1" || limits.GetAttr("memory").AsString() != "512Mi" {
		t.Errorf("limits = %#v, want function_cpu and function_memory", limits)
	}
	img := c.Attributes["image"]
	if img == nil || !refersTo(img.Expr, "data", "google_cloud_run_v2_service") {
		t.Fatal("the image is not read from the function's Cloud Run service")
	}
	ds := m.data["google_cloud_run_v2_service.function"]
	if ds == nil {
		t.Fatal("no data.google_cloud_run_v2_service.function")
	}
	if !refersTo(ds.Body.Attributes["name"].Expr, "google_cloudfunctions2_function", "webhook") {
		t.Error("the data source does not read the function's service")
	}
	if dep := ds.Body.Attributes["depends_on"]; dep == nil || !refersTo(dep.Expr, "google_cloudfunctions2_function", "webhook") {
		t.Error("the data source does not depend on the function: it would read the old image before the function's update")
	}
	// The function, as the image's build only: nothing kept warm, one instance.
	sc := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "service_config")
	for attr, want := range map[string]int64{"min_instance_count": 0, "max_instance_count": 1} {
		if got := mustInt(t, evalWith(t, m, sc.Attributes[attr].Expr, withOverrides(cloudRun, map[string]cty.Value{"min_instances": cty.NumberIntVal(2)}), nil)); got != want {
			t.Errorf("deploy_as = cloud_run: the function's %s = %d, want %d", attr, got, want)
		}
	}
	// Its preconditions are the function's (those about the service).
	have := map[string]bool{}
	for _, b := range block(mustResource(t, m, "google_cloud_run_v2_service.webhook"), "lifecycle").Blocks {
		msg, _ := literalString(b.Body.Attributes["error_message"])
		have[msg] = true
	}
	for _, msg := range []string{"lease_seconds must exceed request_timeout_seconds: a lease must outlive the request that holds it."} {
		if !have[msg] {
			t.Errorf("the Cloud Run service lacks the precondition %q", msg)
		}
	}
}

// What depends on the receiver follows deploy_as: the URL (output, next
// steps, per-request template) and the service name in logs, metrics,
// alerts and the dashboard.
func TestReceiverFollowsDeployAs(t *testing.T) {
	m := mustLoad(t)
	stubs := map[string]cty.Value{
		"google_cloudfunctions2_function": cty.ObjectVal(map[string]cty.Value{"webhook": cty.ObjectVal(map[string]cty.Value{"url": cty.StringVal("https://function.invalid")})}),
		"google_cloud_run_v2_service":     cty.ObjectVal(map[string]cty.Value{"webhook": cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"uri": cty.StringVal("https://run.invalid")})})}),
	}
	for _, tt := range []struct {
		deployAs, url, service string
	}{
		{"function", "https://function.invalid", "geminihook"},
		{"cloud_run", "https://run.invalid", "geminihook-run"},
	} {
		o := map[string]cty.Value{"deploy_as": cty.StringVal(tt.deployAs), "per_request_webhooks": cty.True}
		if got := evalWith(t, m, m.outputs["function_url"].Body.Attributes["value"].Expr, o, stubs).AsString(); got != tt.url {
			t.Errorf("deploy_as = %s: function_url = %q, want %q", tt.deployAs, got, tt.url)
		}
		if got := evalWith(t, m, m.outputs["per_request_webhook_url"].Body.Attributes["value"].Expr, o, stubs).AsString(); got != tt.url+"/r/<ROUTE_TOKEN>" {
			t.Errorf("deploy_as = %s: per_request_webhook_url = %q", tt.deployAs, got)
		}
		if got := evalWith(t, m, m.outputs["next_steps"].Body.Attributes["value"].Expr, o, stubs).AsString(); !strings.Contains(got, "--uri "+tt.url+" ") {
			t.Errorf("deploy_as = %s: next_steps registers another URL:\n%s", tt.deployAs, got)
		}
		want := `resource.labels.service_name="` + tt.service + `"`
		if got := evalWith(t, m, m.locals["delivery_log_filter"].Expr, o, nil).AsString(); !strings.Contains(got, want) {
			t.Errorf("deploy_as = %s: the log filter %q does not select %s", tt.deployAs, got, want)
		}
		for _, local := range []string{"run_requests_filter"} {
			if got := evalWith(t, m, m.locals[local].Expr, o, nil).AsString(); !strings.Contains(got, `service_name="`+tt.service+`"`) {
				t.Errorf("deploy_as = %s: local.%s = %q", tt.deployAs, local, got)
			}
		}
		dash := evalWith(t, m, mustResource(t, m, "google_monitoring_dashboard.main").Attributes["dashboard_json"].Expr, o, nil).AsString()
		if strings.Count(dash, `service_name=\"`) != strings.Count(dash, `service_name=\"`+tt.service+`\"`) {
			t.Errorf("deploy_as = %s: a dashboard chart reads another service than %s", tt.deployAs, tt.service)
		}
	}
	// No name but the service's: var.name is not a service name anywhere.
	for _, name := range []string{"monitoring.tf", "main.tf"} {
		if strings.Contains(string(m.src[name]), `service_name=\"${var.name}\"`) {
			t.Errorf("%s selects service_name = var.name, not local.service_name", name)
		}
	}
}
