# The pull subscription of examples/pull: exactly-once delivery (the
# consumer acknowledges with AckWithResult), one job's events in order when
# the function sets ordering keys (GEMINIHOOK_ORDERING=true), a dead-letter
# topic for messages the consumer keeps refusing, acknowledged messages
# retained so that the subscription can be sought back in time, and the
# consumer's dedup collection with its TTL policy.
#
# The topic is geminihook's (terraform/ creates it). Its own message
# retention (message_retention_duration on google_pubsub_topic) lets a new
# subscription, or a seek to a time before it existed, see past messages.

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
  description = "Project of geminihook's topic and of this subscription."
}

variable "topic" {
  type        = string
  default     = "gemini-job-events"
  description = "geminihook's topic (GEMINIHOOK_TOPIC, or a per-kind topic)."
}

variable "subscription" {
  type        = string
  default     = "gemini-job-events-pull"
  description = "Name of the subscription the consumer reads (its SUBSCRIPTION)."
}

variable "consumer_service_account" {
  type        = string
  description = "Email of the service account the consumer runs as."
}

variable "message_ordering" {
  type        = bool
  default     = false
  description = "Deliver one job's events in publish order; set it with GEMINIHOOK_ORDERING=true on the function, which sets the job id as ordering key."
}

variable "filter" {
  type        = string
  default     = ""
  description = "Subscription filter on the message attributes, e.g. attributes.job_kind = \"batch\" or NOT attributes:geminihook_replay."
}

variable "max_delivery_attempts" {
  type        = number
  default     = 10
  description = "Deliveries before a message goes to the dead-letter topic (5 to 100)."
}

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Pub/Sub's own service agent moves messages to the dead-letter topic.
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "dead_letter" {
  project = var.project_id
  name    = "${var.subscription}-dead-letter"
}

resource "google_pubsub_subscription" "pull" {
  project = var.project_id
  name    = var.subscription
  topic   = var.topic
  filter  = var.filter

  # The consumer's AckWithResult reports success only once Pub/Sub will
  # not deliver the message again.
  enable_exactly_once_delivery = true
  enable_message_ordering      = var.message_ordering
  ack_deadline_seconds         = 60

  # Keep acknowledged messages for 7 days: a seek to a time redelivers them
  # (gcloud pubsub subscriptions seek SUB --time=...).
  retain_acked_messages      = true
  message_retention_duration = "604800s"

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

  depends_on = [google_pubsub_topic_iam_member.dead_letter_publisher]
}

# Dead letters are kept for inspection (a topic without subscription drops
# them).
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.subscription}-dead-letter-inspect"
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
  subscription = google_pubsub_subscription.pull.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "consumer" {
  project      = var.project_id
  subscription = google_pubsub_subscription.pull.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.consumer_service_account}"
}

# The dedup collection (DEDUP_COLLECTION) in the default database.
resource "google_project_iam_member" "consumer_dedup" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${var.consumer_service_account}"
}

resource "google_firestore_field" "dedup_expire_at" {
  project    = var.project_id
  database   = "(default)"
  collection = "processed_gemini_events"
  field      = "expire_at"

  ttl_config {}

  index_config {}
}
