# Identities and grants. Two dedicated service accounts, no keys, no basic
# roles, no project-wide admin role; every grant sits on the one resource it
# is for, except those that have no smaller level: they are granted on the
# project, held by an IAM condition where one can hold them (see each).

resource "google_service_account" "function" {
  project      = var.project_id
  account_id   = "${var.name}-fn"
  display_name = "${var.name} function runtime"
  description  = "Runs the ${var.name} webhook receiver: reads its secrets, writes its Firestore ledger, publishes to its topics, exports its traces."

  depends_on = [google_project_service.required]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name}-build"
  display_name = "${var.name} function build"
  description  = "Cloud Build identity for building the ${var.name} function's image."

  depends_on = [google_project_service.required]
}

# ----------------------------------------------------- function: secrets ---

# accessor reads a version's payload; viewer lists the versions, because the
# function accepts every ENABLED version (rotation overlap) rather than
# "latest" only. Both on each secret, and on nothing else.
resource "google_secret_manager_secret_iam_member" "function_accessor" {
  count = var.hmac_enabled ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.signing[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.function_member
}

resource "google_secret_manager_secret_iam_member" "function_viewer" {
  count = var.hmac_enabled ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.signing[0].secret_id
  role      = "roles/secretmanager.viewer"
  member    = local.function_member
}

resource "google_secret_manager_secret_iam_member" "function_route_tokens_accessor" {
  count = var.per_request_webhooks ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.route_tokens[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.function_member
}

resource "google_secret_manager_secret_iam_member" "function_route_tokens_viewer" {
  count = var.per_request_webhooks ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.route_tokens[0].secret_id
  role      = "roles/secretmanager.viewer"
  member    = local.function_member
}

# --------------------------------------------------- function: firestore ---

# Firestore has no IAM below the project: roles/datastore.user is granted at
# project level, held by an IAM condition to the ledger's database, so that
# no other database of the project (the (default) one, often another
# application's) is readable or writable by the function. It reads and
# writes documents; it cannot change databases, indexes or TTL policies.
resource "google_project_iam_member" "function_datastore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.function_member

  condition {
    title       = "${var.name}-ledger-database-only"
    description = "Only the ${var.name} ledger database."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${local.firestore_database}\""
  }
}

# ------------------------------------------------------ function: pub/sub ---

resource "google_pubsub_topic_iam_member" "function_publisher" {
  for_each = local.publish_topics

  project = var.project_id
  topic   = each.value
  role    = "roles/pubsub.publisher"
  member  = local.function_member
}

# -------------------------------------------------------- function: trace ---

# Spans go to Cloud Trace over OTLP (telemetry.googleapis.com), which needs
# telemetry.traces.write: roles/cloudtrace.agent, which exists at project
# level only and can write traces, nothing else. No grant without tracing.
resource "google_project_iam_member" "function_trace_agent" {
  count = var.trace_sample_ratio > 0 ? 1 : 0

  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = local.function_member
}

# ------------------------------------------- pub/sub service agent (DLQ) ---

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = google_pubsub_subscription.example

  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# ---------------------------------------------------------------- build ---

# Build logs. Logs Writer exists only at project (or log bucket) level.
resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

# The build reads the function's source: our archive in the source bucket,
# and the copy Cloud Functions makes of it in the gcf-v2-sources-NUMBER-REGION
# bucket, which it creates and owns (so no grant can sit on that bucket ahead
# of time). So the grant is made on the project, but held by an IAM
# condition to those two buckets and their objects: no other bucket of the
# project is readable by the build.
locals {
  build_source_buckets = [
    google_storage_bucket.source.name,
    "gcf-v2-sources-${data.google_project.this.number}-${var.region}",
  ]

  # CEL: one of those buckets itself (listing) or an object in it. The
  # trailing / keeps a bucket whose name merely starts the same way out.
  build_source_condition = join(" || ", flatten([
    for b in local.build_source_buckets : [
      "resource.name == \"projects/_/buckets/${b}\"",
      "resource.name.startsWith(\"projects/_/buckets/${b}/\")",
    ]
  ]))
}

resource "google_project_iam_member" "build_object_viewer" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.build.email}"

  condition {
    title       = "${var.name}-function-source-only"
    description = "Only the ${var.name} function's source buckets and their objects."
    expression  = local.build_source_condition
  }
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}
