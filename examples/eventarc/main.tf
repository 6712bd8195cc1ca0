# An Eventarc trigger on geminihook's topic, delivering each event to a
# Cloud Run service (examples/push serves it at /events). Eventarc makes its
# own push subscription on the topic and wraps each Pub/Sub message in a
# CloudEvent of type google.cloud.pubsub.topic.v1.messagePublished whose
# data is the push body, {"message": {...}, "subscription": ...}: the
# consumer reads it with events.DecodePush like a push request. Its OIDC
# token is for the trigger's service account, with the service URL as
# audience: give examples/push PUSH_SERVICE_ACCOUNT = the trigger account's
# email and PUSH_AUDIENCE = the service URL.
#
# A push subscription (examples/push/terraform) does the same with fewer
# parts; Eventarc is for routing many sources to one service with Eventarc's
# filters.

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
  description = "Project of geminihook's topic and of the Cloud Run service."
}

variable "region" {
  type        = string
  description = "Region of the trigger and of the Cloud Run service."
}

variable "topic" {
  type        = string
  default     = "gemini-job-events"
  description = "geminihook's topic id (GEMINIHOOK_TOPIC, or a per-kind topic)."
}

variable "service" {
  type        = string
  default     = "gemini-events-consumer"
  description = "Name of the Cloud Run service that receives the events (examples/push)."
}

variable "path" {
  type        = string
  default     = "/events"
  description = "Path the events are POSTed to."
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service" "eventarc" {
  project            = var.project_id
  service            = "eventarc.googleapis.com"
  disable_on_destroy = false
}

# The identity Eventarc calls the service as.
resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "gemini-events-eventarc"
  display_name = "Eventarc trigger of the Gemini events"
}

resource "google_cloud_run_v2_service_iam_member" "trigger_invoker" {
  project  = var.project_id
  location = var.region
  name     = var.service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

# Pub/Sub's service agent mints the tokens of the trigger's pushes.
resource "google_service_account_iam_member" "trigger_token_creator" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_eventarc_trigger" "gemini_events" {
  project  = var.project_id
  name     = "gemini-job-events"
  location = var.region

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.pubsub.topic.v1.messagePublished"
  }

  transport {
    pubsub {
      topic = "projects/${var.project_id}/topics/${var.topic}"
    }
  }

  destination {
    cloud_run_service {
      service = var.service
      region  = var.region
      path    = var.path
    }
  }

  service_account = google_service_account.trigger.email

  depends_on = [
    google_project_service.eventarc,
    google_cloud_run_v2_service_iam_member.trigger_invoker,
  ]
}

output "trigger_service_account" {
  value       = google_service_account.trigger.email
  description = "PUSH_SERVICE_ACCOUNT of examples/push behind this trigger."
}

output "subscription" {
  value       = google_eventarc_trigger.gemini_events.transport[0].pubsub[0].subscription
  description = "The push subscription Eventarc made on the topic."
}
