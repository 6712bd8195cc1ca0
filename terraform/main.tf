# geminihook on Google Cloud: a Cloud Run function (2nd gen) that verifies
# Gemini API webhooks, records each delivery once in Firestore and publishes
# a job event on Pub/Sub. The resources are split by concern:
#
#   main.tf        project lookup, APIs, shared names
#   function.tf    source archive, build repository, the function, public invoke
#   pubsub.tf      event topics, quarantine, dead letters, example subscriptions
#   firestore.tf   ledger database and its TTL policy
#   secret.tf      the (empty) signing secret and route tokens secret
#   iam.tf         service accounts and their grants
#   monitoring.tf  log-based metrics, alert policies, dashboard

data "google_project" "this" {
  project_id = var.project_id
}

# The APIs the deployment and the function use. Destroying this module leaves
# them enabled: other workloads of the project may need them.
resource "google_project_service" "required" {
  for_each = toset(concat([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudtrace.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "telemetry.googleapis.com",
    ],
    # The watcher's schedule.
    local.watch ? ["cloudscheduler.googleapis.com"] : [],
  ))

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

locals {
  # Every name this module gives a resource derives from var.name, so that
  # two calls with different names (examples/two-environments) share none.
  # The variables that override one (topic, signing_secret_id,
  # route_tokens_secret_id, firestore_database) are null by default. The
  # default name keeps the names of the function's own defaults
  # (gemini-job-events, the geminihook database), which is why "gemini" is
  # no valid name: its topic would be the default instance's.
  topic                  = var.topic != null ? var.topic : (var.name == "geminihook" ? "gemini-job-events" : "${var.name}-job-events")
  signing_secret_id      = var.signing_secret_id != null ? var.signing_secret_id : "${var.name}-signing-secret"
  route_tokens_secret_id = var.route_tokens_secret_id != null ? var.route_tokens_secret_id : "${var.name}-route-tokens"
  ledger_database        = var.firestore_database != null ? var.firestore_database : var.name

  # Labels of every resource that takes them (a module has no provider of
  # its own whose default_labels could add them).
  labels = var.labels

  # Topic ids. The function receives ids; it resolves them in project_id.
  quarantine_topic  = "${local.topic}-quarantine"
  dead_letter_topic = "${local.topic}-dead-letter"
  kind_topics       = var.per_kind_topics ? { for kind in ["batch", "interaction", "video"] : kind => "${local.topic}-${kind}" } : {}

  # Pub/Sub's service agent forwards undeliverable messages to the dead-letter
  # topic; it needs publisher there and subscriber on each such subscription.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  function_member = "serviceAccount:${google_service_account.function.email}"

  # Logging filter selecting the function's per-request access lines.
  delivery_log_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.service_name}\"",
    "jsonPayload.message=\"delivery\"",
  ])
}
