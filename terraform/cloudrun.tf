# deploy_as = "cloud_run": for organizations whose policy forbids allUsers
# (domain-restricted sharing, iam.allowedPolicyMemberDomains), which blocks
# the function's public invoker grant. The deliveries go to a Cloud Run
# service instead, made public by turning Cloud Run's invoker IAM check off
# (invoker_iam_disabled): no IAM member is granted anything, so the policy
# has nothing to refuse. The webhook signature stays the gate, exactly as
# for the function (README, "Why the function is public").
#
# The image is the one the function's build makes from the same source
# archive (Cloud Build with Google's Go buildpacks, runtime go126): the
# function is still deployed, private (internal ingress, no invoker, at most
# one instance, none kept warm), and this service runs the image of its
# current revision, read from the function's own Cloud Run service. A new
# source is a new function revision, hence a new image here: the data
# source depends on the function, so it is read after the function's
# update, in the same apply. FUNCTION_TARGET picks the entry point (the
# source registers two).

data "google_cloud_run_v2_service" "function" {
  count = local.cloud_run ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.webhook.service_config[0].service

  depends_on = [google_cloudfunctions2_function.webhook]
}

resource "google_cloud_run_v2_service" "webhook" {
  count = local.cloud_run ? 1 : 0

  project     = var.project_id
  labels      = local.labels
  location    = var.region
  name        = local.service_name
  description = "Receives Gemini API webhooks for ${var.name}, verifies them, records them once and publishes job events."

  ingress              = "INGRESS_TRAFFIC_ALL"
  invoker_iam_disabled = true
  # Nothing is kept in the service: deleting it loses no data.
  deletion_protection = false

  template {
    service_account                  = google_service_account.function.email
    timeout                          = "${local.function_timeout_seconds}s"
    max_instance_request_concurrency = var.max_instance_request_concurrency

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      image = data.google_cloud_run_v2_service.function[0].template[0].containers[0].image

      resources {
        limits = {
          cpu    = var.function_cpu
          memory = var.function_memory
        }
        # As a function: CPU only while a request is served.
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.run_environment
        content {
          name  = env.key
          value = env.value
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.lease_seconds > var.request_timeout_seconds
      error_message = "lease_seconds must exceed request_timeout_seconds: a lease must outlive the request that holds it."
    }
    precondition {
      condition     = var.max_instance_request_concurrency == 1 || tonumber(var.function_cpu) >= 1
      error_message = "A max_instance_request_concurrency above 1 needs function_cpu of at least 1."
    }
  }

  # The same grants as the function: secrets, ledger, topics, traces.
  depends_on = [
    google_secret_manager_secret_iam_member.function_accessor,
    google_secret_manager_secret_iam_member.function_viewer,
    google_secret_manager_secret_iam_member.function_route_tokens_accessor,
    google_secret_manager_secret_iam_member.function_route_tokens_viewer,
    google_project_iam_member.function_datastore_user,
    google_pubsub_topic_iam_member.function_publisher,
    google_project_iam_member.function_trace_agent,
  ]
}

locals {
  # The function's environment, plus the entry point the functions
  # framework serves (a function gets it from Cloud Functions).
  run_environment = merge(local.environment, { FUNCTION_TARGET = "GeminiWebhook" })
}
