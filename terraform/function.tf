# The function: its source archive, the repository its image is built into,
# the function itself and the public invoke grant on its Cloud Run service.
# With deploy_as = "cloud_run" the function is built the same way but stays
# private; cloudrun.tf serves its image.

# The Go module at the repository root, without what the function does not
# need. archive_file matches each exclude (a doublestar glob, relative to
# source_dir) against every path it walks: a matching directory is skipped
# whole, a matching file is left out. A pattern without **/ matches at the
# root only. Two Go tests keep this list honest: one that the function's
# packages need nothing excluded, one that no key material, secret or
# Terraform state on disk ever reaches the archive.
data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.build/${var.name}-source.zip"

  excludes = [
    # Version control, CI, tools, tests, docs. terraform/ above all: it
    # holds state files, tfvars, plans and this archive itself.
    ".git",
    ".git/**",
    ".github",
    ".github/**",
    ".ci",
    ".ci/**",
    "cmd",
    "cmd/**",
    "test",
    "test/**",
    "terraform",
    "terraform/**",
    "cloudbuild.yaml",
    "**/*_test.go",
    "**/*.md",
    # Test fixtures and test helpers: known test secrets and RSA keys.
    "**/testdata",
    "**/testdata/**",
    "verify/verifytest",
    "verify/verifytest/**",
    # Key material and local secrets wherever they lie: what
    # `geminihook keys` writes (keys/, its default geminihook-keys/),
    # private keys, seeds, route tokens, signing secrets, env files.
    "**/keys",
    "**/keys/**",
    "**/geminihook-keys",
    "**/geminihook-keys/**",
    "**/*.pem",
    "**/*.seed",
    "**/.env*",
    "**/route-token.txt",
    "**/secret.txt",
    # Terraform state, working directories and variable files anywhere.
    "**/*.tfstate",
    "**/*.tfstate.*",
    "**/.terraform",
    "**/.terraform/**",
    "**/*.tfvars",
    "**/*.tfplan",
  ]
}

resource "google_storage_bucket" "source" {
  project                     = var.project_id
  labels                      = local.labels
  name                        = "${var.project_id}-${var.name}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # The bucket holds nothing but build archives that Terraform rewrites.
  force_destroy = true

  depends_on = [google_project_service.required]
}

# The object name carries the archive's hash: a changed source is a new
# object, which makes the function rebuild.
resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "${var.name}-${data.archive_file.source.output_md5}.zip"
  source = data.archive_file.source.output_path
}

# A repository of our own for the function's images, so that the build
# service account needs writer on this repository only.
resource "google_artifact_registry_repository" "functions" {
  project       = var.project_id
  labels        = local.labels
  location      = var.region
  repository_id = "${var.name}-functions"
  description   = "Container images built for the ${var.name} function."
  format        = "DOCKER"

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.required]
}

locals {
  # Every environment variable the function reads (geminihook.Variables()),
  # no more and no fewer: a Go test keeps them equal. environment_always is
  # set as it is; environment_optional only where set is true, since an
  # unset variable takes the function's default, "" (off).
  environment = merge(
    local.environment_always,
    { for name, v in local.environment_optional : name => v.value if v.set },
  )

  environment_always = {
    GOOGLE_CLOUD_PROJECT          = var.project_id
    GEMINIHOOK_SECRET             = var.hmac_enabled ? google_secret_manager_secret.signing[0].id : "off"
    GEMINIHOOK_SECRET_REFRESH     = "${var.secret_refresh_seconds}s"
    GEMINIHOOK_JWKS_URL           = var.jwks_url
    GEMINIHOOK_TOLERANCE          = "${var.tolerance_seconds}s"
    GEMINIHOOK_TOPIC              = google_pubsub_topic.events.name
    GEMINIHOOK_TOPIC_BATCH        = var.per_kind_topics ? google_pubsub_topic.kind["batch"].name : google_pubsub_topic.events.name
    GEMINIHOOK_TOPIC_INTERACTION  = var.per_kind_topics ? google_pubsub_topic.kind["interaction"].name : google_pubsub_topic.events.name
    GEMINIHOOK_TOPIC_VIDEO        = var.per_kind_topics ? google_pubsub_topic.kind["video"].name : google_pubsub_topic.events.name
    GEMINIHOOK_QUARANTINE_TOPIC   = google_pubsub_topic.quarantine.name
    GEMINIHOOK_ORDERING           = tostring(var.message_ordering)
    GEMINIHOOK_FIRESTORE_DATABASE = local.firestore_database
    GEMINIHOOK_COLLECTION         = var.ledger_collection
    GEMINIHOOK_LEASE              = "${var.lease_seconds}s"
    GEMINIHOOK_RETENTION          = "${var.retention_hours}h"
    GEMINIHOOK_REQUEST_TIMEOUT    = "${var.request_timeout_seconds}s"
    GEMINIHOOK_MAX_BODY_BYTES     = tostring(var.max_body_bytes)
    GEMINIHOOK_TRACE_SAMPLE_RATIO = tostring(var.trace_sample_ratio)
    GEMINIHOOK_LOG_LEVEL          = var.log_level
  }

  environment_optional = {
    # Unset: v1a and JWT deliveries are refused (per_request_webhooks).
    GEMINIHOOK_ROUTE_TOKENS = {
      set   = var.per_request_webhooks
      value = var.per_request_webhooks ? google_secret_manager_secret.route_tokens[0].id : ""
    }
    # Unset: JWT deliveries are refused.
    GEMINIHOOK_JWT_AUDIENCE = {
      set   = var.jwt_audience != ""
      value = var.jwt_audience
    }
    # Unset: iss is not checked.
    GEMINIHOOK_JWT_ISSUER = {
      set   = var.jwt_issuer != ""
      value = var.jwt_issuer
    }
    # Unset: no user_metadata is lifted into attributes.
    GEMINIHOOK_METADATA_ATTRIBUTES = {
      set   = length(var.metadata_attributes) > 0
      value = join(",", var.metadata_attributes)
    }
  }

  # deploy_as: the Cloud Run service that receives deliveries, and its URL.
  cloud_run    = var.deploy_as == "cloud_run"
  service_name = local.cloud_run ? "${var.name}-run" : var.name
  receiver_url = local.cloud_run ? google_cloud_run_v2_service.webhook[0].uri : google_cloudfunctions2_function.webhook.url

  # Cloud Run's request timeout, just above the function's own deadline: the
  # function answers every request itself (503 past the deadline, 408 for a
  # body still arriving), and no connection, a slow client's included, is
  # held longer than that.
  function_timeout_seconds = var.request_timeout_seconds + 2
}

resource "google_cloudfunctions2_function" "webhook" {
  project     = var.project_id
  labels      = local.labels
  location    = var.region
  name        = var.name
  description = "Receives Gemini API webhooks, verifies them, records them once and publishes job events."

  build_config {
    # Kept equal to go.mod's go line by a Go test: go 1.26 -> go126.
    runtime           = "go126"
    entry_point       = "GeminiWebhook"
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
    available_memory                 = var.function_memory
    available_cpu                    = var.function_cpu
    max_instance_request_concurrency = var.max_instance_request_concurrency
    min_instance_count               = local.cloud_run ? 0 : var.min_instances
    max_instance_count               = local.cloud_run ? 1 : var.max_instances
    timeout_seconds                  = local.function_timeout_seconds
    # Gemini calls from the internet and cannot present Google credentials:
    # the webhook signature is the gate (README, "Why the function is public").
    # Deployed as a Cloud Run service instead, the function only builds the
    # image: internal traffic only, and no invoker grant at all.
    ingress_settings               = local.cloud_run ? "ALLOW_INTERNAL_ONLY" : "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function.email
    environment_variables          = local.environment
  }

  lifecycle {
    precondition {
      condition     = var.lease_seconds > var.request_timeout_seconds
      error_message = "lease_seconds must exceed request_timeout_seconds: a lease must outlive the request that holds it."
    }
    precondition {
      condition     = var.hmac_enabled || var.per_request_webhooks
      error_message = "hmac_enabled and per_request_webhooks are both false: no delivery could ever verify."
    }
    precondition {
      condition     = !var.per_request_webhooks || var.jwks_url != "off"
      error_message = "per_request_webhooks needs jwks_url: v1a and JWT deliveries are verified with the keys it serves."
    }
    precondition {
      condition     = var.max_instance_request_concurrency == 1 || tonumber(var.function_cpu) >= 1
      error_message = "A max_instance_request_concurrency above 1 needs function_cpu of at least 1."
    }
  }

  # The function must be able to read its secrets, write its ledger and
  # topics, and export its traces from its first request on.
  depends_on = [
    google_project_service.required,
    google_secret_manager_secret_iam_member.function_accessor,
    google_secret_manager_secret_iam_member.function_viewer,
    google_secret_manager_secret_iam_member.function_route_tokens_accessor,
    google_secret_manager_secret_iam_member.function_route_tokens_viewer,
    google_project_iam_member.function_datastore_user,
    google_pubsub_topic_iam_member.function_publisher,
    google_project_iam_member.function_trace_agent,
    google_firestore_database.ledger,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_object_viewer,
    google_artifact_registry_repository_iam_member.build_writer,
  ]
}

# Anyone may call the function: Gemini sends no Google identity token. Every
# request is verified (Standard Webhooks v1 signature with our secret, or a
# Google v1a/JWT signature at /r/<route token>) before any Firestore or
# Pub/Sub I/O, so an unsigned call costs one rejected request and nothing
# else.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  count = local.cloud_run ? 0 : 1

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.webhook.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
