# examples/push on Cloud Run behind a push subscription of geminihook's
# topic. Pub/Sub signs each push with an OIDC token for the push service
# account and the audience below; Cloud Run admits only that account
# (roles/run.invoker, no public access); the handler checks the token again
# (audience and service account email) before it reads a body. Messages the
# handler keeps refusing go to a dead-letter topic.

terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
  }
}

variable "project_id" {
  type        = string
  description = "Project of geminihook's topic and of the consumer."
}

variable "region" {
  type        = string
  description = "Region of the Cloud Run service."
}

variable "image" {
  type        = string
  description = "Container image of examples/push (e.g. built with ko or a Dockerfile)."
}

variable "topic" {
  type        = string
  default     = "gemini-job-events"
  description = "geminihook's topic (GEMINIHOOK_TOPIC, or a per-kind topic)."
}

variable "audience" {
  type        = string
  default     = "gemini-job-events-push"
  description = "Audience of the push tokens: a custom audience of the service, the handler's PUSH_AUDIENCE."
}

variable "message_ordering" {
  type        = bool
  default     = false
  description = "Push one job's events in publish order (with GEMINIHOOK_ORDERING=true on the function)."
}

variable "max_delivery_attempts" {
  type        = number
  default     = 5
  description = "Pushes before a message goes to the dead-letter topic (5 to 100)."
}

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# The identity Pub/Sub pushes as.
resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "gemini-events-push"
  display_name = "Pub/Sub push to the Gemini events consumer"
}

# The identity the consumer runs as (it needs no role to receive pushes).
resource "google_service_account" "consumer" {
  project      = var.project_id
  account_id   = "gemini-events-consumer"
  display_name = "Gemini events consumer (Cloud Run)"
}

resource "google_cloud_run_v2_service" "consumer" {
  project  = var.project_id
  name     = "gemini-events-consumer"
  location = var.region
  ingress  = "INGRESS_TRAFFIC_ALL"

  # Cloud Run accepts tokens for this audience besides its own URL.
  custom_audiences = [var.audience]

  template {
    service_account = google_service_account.consumer.email

    containers {
      image = var.image

      env {
        name  = "PUSH_AUDIENCE"
        value = var.audience
      }
      env {
        name  = "PUSH_SERVICE_ACCOUNT"
        value = google_service_account.push.email
      }
    }
  }
}

# Only the push service account may call the service.
resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.consumer.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

# Pub/Sub's service agent mints the push tokens for the push account.
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_pubsub_topic" "dead_letter" {
  project = var.project_id
  name    = "gemini-job-events-push-dead-letter"
}

resource "google_pubsub_subscription" "push" {
  project = var.project_id
  name    = "gemini-job-events-push"
  topic   = var.topic

  ack_deadline_seconds    = 60
  enable_message_ordering = var.message_ordering

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.consumer.uri}/events"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = var.audience
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.push_invoker,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "gemini-job-events-push-dead-letter-inspect"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

output "service_url" {
  value       = google_cloud_run_v2_service.consumer.uri
  description = "URL of the consumer; the push endpoint is its /events."
}
