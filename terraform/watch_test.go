package terraform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/internal/gemini"
)

// The webhook watcher (var.webhook_watch) against watch.go.

func watchOn(attrs map[string]cty.Value) map[string]cty.Value {
	obj := map[string]cty.Value{"enabled": cty.True}
	for k, v := range attrs {
		obj[k] = v
	}
	return map[string]cty.Value{"webhook_watch": cty.ObjectVal(obj)}
}

// The watcher's resources, all created with enabled and none without.
var watchResources = []string{
	"google_service_account.watch",
	"google_service_account.watch_invoker",
	"google_secret_manager_secret_iam_member.watch_api_key",
	"google_cloudfunctions2_function.watch",
	"google_cloud_run_v2_service_iam_member.watch_invoker",
	"google_cloud_scheduler_job.watch",
	"google_logging_metric.webhook_state",
	"google_monitoring_alert_policy.webhook_disabled",
}

func TestWatcherIsOptIn(t *testing.T) {
	m := mustLoad(t)
	for _, addr := range watchResources {
		if n := count(t, m, addr, nil); n != 0 {
			t.Errorf("%s: %d without webhook_watch.enabled", addr, n)
		}
		if n := count(t, m, addr, watchOn(nil)); n != 1 {
			t.Errorf("%s: %d with webhook_watch.enabled, want 1", addr, n)
		}
	}
	apis := mustResource(t, m, "google_project_service.required").Attributes["for_each"].Expr
	for on, want := range map[bool]bool{false: false, true: true} {
		o := map[string]cty.Value{}
		if on {
			o = watchOn(nil)
		}
		if got := evalWith(t, m, apis, o, nil).HasElement(cty.StringVal("cloudscheduler.googleapis.com")).True(); got != want {
			t.Errorf("webhook_watch.enabled = %v: Cloud Scheduler API enabled: %v", on, got)
		}
	}
	if m.outputs["webhook_watch"] == nil {
		t.Fatal("no webhook_watch output")
	}
	if v := evalWith(t, m, m.outputs["webhook_watch"].Body.Attributes["value"].Expr, nil, nil); !v.IsNull() {
		t.Errorf("webhook_watch output without the watcher: %#v", v)
	}
}

// The watcher is the receiver's source with the other entry point, built
// the same way, and its environment is exactly what LoadWatchConfig reads.
func TestWatcherFunction(t *testing.T) {
	m := mustLoad(t)
	watch := mustResource(t, m, "google_cloudfunctions2_function.watch")
	build := block(watch, "build_config")
	if got, _ := literalString(build.Attributes["entry_point"]); got != geminihook.WatchEntryPoint {
		t.Errorf("entry_point = %q, want geminihook.WatchEntryPoint %q", got, geminihook.WatchEntryPoint)
	}
	webhookBuild := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "build_config")
	for _, attr := range []string{"runtime", "service_account", "docker_repository"} {
		if exprText(m, build.Attributes[attr]) != exprText(m, webhookBuild.Attributes[attr]) {
			t.Errorf("build_config.%s = %s, the receiver's %s", attr, exprText(m, build.Attributes[attr]), exprText(m, webhookBuild.Attributes[attr]))
		}
	}
	src := block(block(build, "source"), "storage_source")
	if !refersTo(src.Attributes["bucket"].Expr, "google_storage_bucket", "source") || !refersTo(src.Attributes["object"].Expr, "google_storage_bucket_object", "source") {
		t.Error("the watcher is not built from the receiver's source archive")
	}
	sc := block(watch, "service_config")
	if !refersTo(sc.Attributes["service_account_email"].Expr, "google_service_account", "watch") {
		t.Error("the watcher does not run as its own service account")
	}
	if got := mustInt(t, evalWith(t, m, sc.Attributes["timeout_seconds"].Expr, watchOn(nil), nil)); got < 61 || got > 300 {
		t.Errorf("timeout_seconds = %d: a run takes up to 60 s (watch.go)", got)
	}

	var want []string
	for _, v := range geminihook.WatchVariables() {
		want = append(want, v.Name)
	}
	for _, tt := range []struct {
		attrs  map[string]cty.Value
		reable bool
	}{
		{nil, false},
		{map[string]cty.Value{"auto_reenable": cty.True, "api_key_secret_id": cty.StringVal("my-gemini-key")}, true},
	} {
		o := withOverrides(watchOn(tt.attrs), map[string]cty.Value{"log_level": cty.StringVal("debug")})
		env := map[string]string{}
		for k, v := range evalWith(t, m, sc.Attributes["environment_variables"].Expr, o, nil).AsValueMap() {
			env[k] = v.AsString()
		}
		got := sortedKeys(env)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("the watcher's environment %v, want geminihook.WatchVariables() %v", got, want)
		}
		cfg, err := geminihook.LoadWatchConfig(func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("the watcher refuses its environment %v: %v", env, err)
		}
		secret := "gemini-api-key"
		if id, ok := tt.attrs["api_key_secret_id"]; ok {
			secret = id.AsString()
		}
		if cfg.APIKeySecret != "projects/example-project/secrets/"+secret || cfg.AutoReenable != tt.reable || cfg.LogLevel.String() != "DEBUG" {
			t.Errorf("the watcher reads %+v from %v", cfg, env)
		}
	}
	// Its defaults are the function's.
	for _, v := range geminihook.WatchVariables() {
		if v.Name == "GEMINIHOOK_WATCH_AUTO_REENABLE" {
			if got := evalWith(t, m, m.locals["watch_environment"].Expr, watchOn(nil), nil).GetAttr(v.Name).AsString(); got != v.Default {
				t.Errorf("%s = %q by default, the watcher's default %q", v.Name, got, v.Default)
			}
		}
	}
	for _, bad := range []cty.Value{cty.StringVal("projects/p/secrets/s"), cty.StringVal("a b"), cty.StringVal("")} {
		if validationAccepts(t, m, "webhook_watch", cty.ObjectVal(map[string]cty.Value{"api_key_secret_id": bad})) {
			t.Errorf("api_key_secret_id %#v is accepted: an id in project_id is wanted", bad)
		}
	}
}

// The watcher's account reads the API key's secret and nothing else; the
// scheduler's account invokes the watcher's service and nothing else; no
// one else may invoke it.
func TestWatcherIdentities(t *testing.T) {
	m := mustLoad(t)
	o := watchOn(nil)
	grants := map[string][]string{} // account -> "resource role on"
	for _, addr := range sortedKeys(m.resources) {
		b := m.resources[addr].Body
		if !strings.HasSuffix(strings.SplitN(addr, ".", 2)[0], "_iam_member") {
			continue
		}
		for _, sa := range []string{"watch", "watch_invoker"} {
			if b.Attributes["member"] != nil && refersTo(b.Attributes["member"].Expr, "google_service_account", sa) {
				role, _ := literalString(b.Attributes["role"])
				grants[sa] = append(grants[sa], addr+" "+role)
			}
		}
		// No public member on the watcher.
		if name := b.Attributes["name"]; name != nil && refersTo(name.Expr, "google_cloudfunctions2_function", "watch") {
			if member, ok := literalString(b.Attributes["member"]); ok && publicMembers[member] {
				t.Errorf("%s makes the watcher public", addr)
			}
		}
	}
	if want := []string{"google_secret_manager_secret_iam_member.watch_api_key roles/secretmanager.secretAccessor"}; !slices.Equal(grants["watch"], want) {
		t.Errorf("the watcher's account holds %q, want %q", grants["watch"], want)
	}
	if want := []string{"google_cloud_run_v2_service_iam_member.watch_invoker roles/run.invoker"}; !slices.Equal(grants["watch_invoker"], want) {
		t.Errorf("the scheduler's account holds %q, want %q", grants["watch_invoker"], want)
	}
	key := mustResource(t, m, "google_secret_manager_secret_iam_member.watch_api_key")
	if got := evalWith(t, m, key.Attributes["secret_id"].Expr, o, nil).AsString(); got != "projects/example-project/secrets/gemini-api-key" {
		t.Errorf("the watcher reads secret %q", got)
	}
	inv := mustResource(t, m, "google_cloud_run_v2_service_iam_member.watch_invoker")
	if !refersTo(inv.Attributes["name"].Expr, "google_cloudfunctions2_function", "watch") {
		t.Error("the scheduler's invoker grant is not on the watcher's service")
	}
	// The secret is the user's: no secret resource, no version, no data
	// source reading it.
	for _, addr := range append(sortedKeys(m.resources), sortedKeys(m.data)...) {
		if strings.Contains(addr, "secret_version") {
			t.Errorf("%s: the API key is never read by Terraform", addr)
		}
	}
}

// Cloud Scheduler POSTs to the watcher with an OIDC token of the
// scheduler's account, for the watcher's URL, on the configured schedule.
func TestWatcherSchedule(t *testing.T) {
	m := mustLoad(t)
	job := mustResource(t, m, "google_cloud_scheduler_job.watch")
	o := watchOn(map[string]cty.Value{"schedule": cty.StringVal("*/10 * * * *"), "time_zone": cty.StringVal("Europe/Zurich")})
	if got := evalWith(t, m, job.Attributes["schedule"].Expr, o, nil).AsString(); got != "*/10 * * * *" {
		t.Errorf("schedule = %q", got)
	}
	if got := evalWith(t, m, job.Attributes["time_zone"].Expr, o, nil).AsString(); got != "Europe/Zurich" {
		t.Errorf("time_zone = %q", got)
	}
	ht := block(job, "http_target")
	if ht == nil {
		t.Fatal("no http_target")
	}
	if method, _ := literalString(ht.Attributes["http_method"]); method != "POST" {
		t.Errorf("http_method = %q, want POST", method)
	}
	if !refersTo(ht.Attributes["uri"].Expr, "google_cloudfunctions2_function", "watch") {
		t.Error("the job does not call the watcher")
	}
	oidc := block(ht, "oidc_token")
	if oidc == nil {
		t.Fatal("no oidc_token: the private watcher would refuse the call")
	}
	if !refersTo(oidc.Attributes["service_account_email"].Expr, "google_service_account", "watch_invoker") {
		t.Error("the token is not the scheduler's account's")
	}
	if exprText(m, oidc.Attributes["audience"]) != exprText(m, ht.Attributes["uri"]) {
		t.Errorf("audience %s is not the watcher's URL %s", exprText(m, oidc.Attributes["audience"]), exprText(m, ht.Attributes["uri"]))
	}
	for s, ok := range map[string]bool{"*/5 * * * *": true, "0 9 * * 1-5": true, "every 5 minutes": false, "* * * *": false} {
		if got := validationAccepts(t, m, "webhook_watch", cty.ObjectVal(map[string]cty.Value{"schedule": cty.StringVal(s)})); got != ok {
			t.Errorf("schedule %q accepted: %v, want %v", s, got, ok)
		}
	}
}

// The metric counts the watcher's "webhook state" lines by state and id;
// the alert fires on any state but enabled, one incident per webhook.
func TestWatcherMetricAndAlert(t *testing.T) {
	m := mustLoad(t)
	o := watchOn(nil)
	metric := mustResource(t, m, "google_logging_metric.webhook_state")
	filter := evalWith(t, m, metric.Attributes["filter"].Expr, o, nil).AsString()
	for _, want := range []string{
		`jsonPayload.message="` + geminihook.WatchMessageState + `"`,
		`resource.labels.service_name="geminihook-watch"`,
		`resource.type="cloud_run_revision"`,
	} {
		if !strings.Contains(filter, want) {
			t.Errorf("the metric's filter %q lacks %s", filter, want)
		}
	}
	extractors, err := objectKeys(metric.Attributes["label_extractors"].Expr)
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{geminihook.WatchLabelState, geminihook.WatchLabelID} {
		e, ok := extractors[label]
		if !ok {
			t.Errorf("the metric has no label %s", label)
			continue
		}
		if v, _ := e.Value(nil); v.AsString() != "EXTRACT(labels."+label+")" {
			t.Errorf("label %s = %s", label, v.AsString())
		}
	}

	policy := mustResource(t, m, "google_monitoring_alert_policy.webhook_disabled")
	ct := block(block(policy, "conditions"), "condition_threshold")
	af := m.evalResolved(t, ct.Attributes["filter"].Expr, o, nil, 0).AsString()
	if !strings.Contains(af, `metric.type="logging.googleapis.com/user/`+evalWith(t, m, metric.Attributes["name"].Expr, o, nil).AsString()+`"`) {
		t.Errorf("the alert reads %q, not the webhook_state metric", af)
	}
	if !strings.Contains(af, `metric.label.`+geminihook.WatchLabelState+` != "`+gemini.StateEnabled+`"`) {
		t.Errorf("the alert %q does not select the states other than %s", af, gemini.StateEnabled)
	}
	if c, _ := literalString(ct.Attributes["comparison"]); c != "COMPARISON_GT" || exprText(m, ct.Attributes["threshold_value"]) != "0" {
		t.Errorf("the alert fires on %s %s, want any line (COMPARISON_GT 0)", c, exprText(m, ct.Attributes["threshold_value"]))
	}
	agg := block(ct, "aggregations")
	var group []string
	for it := evalWith(t, m, agg.Attributes["group_by_fields"].Expr, o, nil).ElementIterator(); it.Next(); {
		_, v := it.Element()
		group = append(group, v.AsString())
	}
	if !slices.Contains(group, "metric.label."+geminihook.WatchLabelID) {
		t.Error("the alert does not group by webhook: one webhook's incident would hide another's")
	}
	if !refersTo(policy.Attributes["notification_channels"].Expr, "var", "notification_channels") {
		t.Error("the alert notifies nobody")
	}
	// The documentation names the commands that fix it.
	doc := evalWith(t, m, block(policy, "documentation").Attributes["content"].Expr, o, nil).AsString()
	for _, want := range []string{"geminihook webhooks status", "geminihook webhooks enable", gemini.StateDisabledFailed} {
		if !strings.Contains(doc, want) {
			t.Errorf("the alert's documentation lacks %q", want)
		}
	}
}
