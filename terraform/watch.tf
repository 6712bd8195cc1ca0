# The webhook watcher (var.webhook_watch; nothing when not enabled). Gemini
# disables a webhook whose deliveries keep failing, and then sends nothing
# more: no error reaches the function. The watcher notices: a second
# function from the same source (entry point GeminiWebhookWatch, watch.go)
# that lists the project's webhooks with the Gemini API key from Secret
# Manager and logs one "webhook state" line per webhook, with the labels
# webhook_id and webhook_state. Cloud Scheduler calls it on a schedule with
# an OIDC token; a log-based metric counts the lines by state, and an alert
# fires when a webhook is in any state but enabled.
#
#   <name>-watch       the watcher's runtime account: reads the API key's
#                      secret (that one secret), nothing else
#   <name>-watch-inv   the scheduler's account: invokes the watcher's Cloud
#                      Run service (that one service), nothing else
#
# The function is private: no allUsers grant, only the scheduler's account
# may invoke it. Its ingress stays ALLOW_ALL because Cloud Scheduler calls
# it over the internet; IAM (the OIDC token) is the gate.

locals {
  watch = var.webhook_watch.enabled

  # The API key's secret, made by the user (next_steps, step 1): referenced
  # by name, never read by Terraform, no version here.
  watch_api_key_secret = "projects/${var.project_id}/secrets/${var.webhook_watch.api_key_secret_id}"

  # Every variable the watcher reads (geminihook.WatchVariables()): a Go
  # test keeps them equal.
  watch_environment = {
    GOOGLE_CLOUD_PROJECT            = var.project_id
    GEMINIHOOK_WATCH_API_KEY_SECRET = local.watch_api_key_secret
    GEMINIHOOK_WATCH_AUTO_REENABLE  = tostring(var.webhook_watch.auto_reenable)
    GEMINIHOOK_LOG_LEVEL            = var.log_level
  }

  watch_service_name = "${var.name}-watch"
  watch_log_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.watch_service_name}\"",
    "jsonPayload.message=\"webhook state\"",
  ])
}

resource "google_service_account" "watch" {
  count = local.watch ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name}-watch"
  display_name = "${var.name} webhook watcher"
  description  = "Runs the ${var.name} webhook watcher: reads the Gemini API key's secret, nothing else."

  depends_on = [google_project_service.required]
}

resource "google_service_account" "watch_invoker" {
  count = local.watch ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name}-watch-inv"
  display_name = "${var.name} webhook watcher schedule"
  description  = "Cloud Scheduler calls the ${var.name} webhook watcher as this account (OIDC); it may invoke that one service."

  depends_on = [google_project_service.required]
}

# The latest version of the API key's secret, for the watcher alone. The
# secret is the user's: Terraform grants on it, never reads it.
resource "google_secret_manager_secret_iam_member" "watch_api_key" {
  count = local.watch ? 1 : 0

  project   = var.project_id
  secret_id = local.watch_api_key_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.watch[0].email}"
}

resource "google_cloudfunctions2_function" "watch" {
  count = local.watch ? 1 : 0

  project     = var.project_id
  labels      = local.labels
  location    = var.region
  name        = local.watch_service_name
  description = "Logs the state of the project's Gemini webhooks for ${var.name}; called by Cloud Scheduler."

  build_config {
    # The receiver's build, with the watcher's entry point.
    runtime           = "go126"
    entry_point       = "GeminiWebhookWatch"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory = "256Mi"
    available_cpu    = "0.167"
    # One run at a time, one instance: a run lists every webhook.
    max_instance_request_concurrency = 1
    min_instance_count               = 0
    max_instance_count               = 1
    # A run is bounded to 60 s (watch.go); Cloud Run allows a little more.
    timeout_seconds                = 90
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.watch[0].email
    environment_variables          = local.watch_environment
  }

  depends_on = [
    google_project_service.required,
    google_secret_manager_secret_iam_member.watch_api_key,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_object_viewer,
    google_artifact_registry_repository_iam_member.build_writer,
  ]
}

# The scheduler's account may invoke the watcher's Cloud Run service, and
# nothing else: a grant on that one service.
resource "google_cloud_run_v2_service_iam_member" "watch_invoker" {
  count = local.watch ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.watch[0].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.watch_invoker[0].email}"
}

resource "google_cloud_scheduler_job" "watch" {
  count = local.watch ? 1 : 0

  project     = var.project_id
  region      = var.region
  name        = "${var.name}-webhook-watch"
  description = "Calls the ${var.name} webhook watcher, which logs the state of every Gemini webhook of the project."
  schedule    = var.webhook_watch.schedule
  time_zone   = var.webhook_watch.time_zone
  # The watcher answers within its 60 s bound.
  attempt_deadline = "120s"

  # A failed run is not retried: the next one comes on schedule.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.watch[0].url

    oidc_token {
      service_account_email = google_service_account.watch_invoker[0].email
      audience              = google_cloudfunctions2_function.watch[0].url
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.watch_invoker]
}

# ------------------------------------------------------------- monitoring ---

resource "google_logging_metric" "webhook_state" {
  count = local.watch ? 1 : 0

  project     = var.project_id
  name        = "${var.name}/webhook_state"
  description = "The state of each Gemini webhook of the project, one count per webhook per watcher run (${var.name}'s webhook watcher)."
  filter      = local.watch_log_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name} webhook state"

    labels {
      key         = "webhook_state"
      value_type  = "STRING"
      description = "The webhook's state as Gemini reports it: enabled, disabled, disabled_due_to_failed_deliveries."
    }
    labels {
      key         = "webhook_id"
      value_type  = "STRING"
      description = "The webhook's id."
    }
  }

  label_extractors = {
    webhook_state = "EXTRACT(labels.webhook_state)"
    webhook_id    = "EXTRACT(labels.webhook_id)"
  }

  depends_on = [google_project_service.required]
}

locals {
  webhook_state_metric = local.watch ? "metric.type=\"logging.googleapis.com/user/${google_logging_metric.webhook_state[0].name}\" AND resource.type=\"cloud_run_revision\"" : ""
}

# Fires while any webhook reports a state other than enabled: Gemini stopped
# delivering to it. One incident per webhook and state.
resource "google_monitoring_alert_policy" "webhook_disabled" {
  count = local.watch ? 1 : 0

  project               = var.project_id
  user_labels           = local.labels
  display_name          = "${var.name}: a Gemini webhook is not enabled"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels

  conditions {
    display_name = "A webhook reported in a state other than enabled"

    condition_threshold {
      filter          = "${local.webhook_state_metric} AND metric.label.webhook_state != \"enabled\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        # Two runs of the default schedule.
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.webhook_id", "metric.label.webhook_state"]
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A Gemini webhook of this project is not enabled: Gemini delivers nothing
      to it, so ${var.name} receives no job events. disabled_due_to_failed_deliveries:
      Gemini gave up after failed deliveries (look at the 5xx alert and the
      access lines first); disabled: its owner disabled it. See every
      webhook's state with `geminihook webhooks status --project ${var.project_id} --api-key-secret ${var.webhook_watch.api_key_secret_id}`,
      and enable one again with `geminihook webhooks enable WEBHOOK_ID`.
      ${var.webhook_watch.auto_reenable ? "The watcher re-enables a webhook Gemini disabled by itself (auto_reenable); an incident that stays open means that failed." : "auto_reenable is off: the watcher only reports."}
      Logs Explorer: ${local.watch_log_filter}
    EOT
  }
}
