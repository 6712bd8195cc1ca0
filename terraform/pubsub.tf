# Pub/Sub: where the function publishes job events (CloudEvents binary mode,
# attributes ce-*, event_type, job_kind, outcome), where it parks authentic
# deliveries it cannot parse (quarantine), and where subscriptions put
# messages their consumers keep failing on (dead letters).

resource "google_pubsub_topic" "events" {
  project = var.project_id
  labels  = local.labels
  name    = local.topic

  message_retention_duration = local.topic_retention

  depends_on = [google_project_service.required]
}

# Optional topics per job kind (batch.*, interaction.*, video.*). Events of
# unknown kinds always go to the main topic.
resource "google_pubsub_topic" "kind" {
  for_each = local.kind_topics

  project = var.project_id
  labels  = local.labels
  name    = each.value

  message_retention_duration = local.topic_retention

  depends_on = [google_project_service.required]
}

resource "google_pubsub_topic" "quarantine" {
  project = var.project_id
  labels  = local.labels
  name    = local.quarantine_topic

  message_retention_duration = local.topic_retention

  depends_on = [google_project_service.required]
}

resource "google_pubsub_topic" "dead_letter" {
  project = var.project_id
  labels  = local.labels
  name    = local.dead_letter_topic

  message_retention_duration = local.topic_retention

  depends_on = [google_project_service.required]
}

locals {
  # Topic retention: what a seek can reach back to, on every topic. Unset
  # (null) when empty.
  topic_retention = var.topic_message_retention_duration != "" ? var.topic_message_retention_duration : null

  # Every topic the function publishes to, by role.
  publish_topics = merge(
    { events = google_pubsub_topic.events.name, quarantine = google_pubsub_topic.quarantine.name },
    { for kind, t in google_pubsub_topic.kind : kind => t.name },
  )

  # The topics consumers subscribe to, one example subscription each.
  example_topics = var.create_example_subscriptions ? merge(
    { events = google_pubsub_topic.events.name },
    { for kind, t in google_pubsub_topic.kind : kind => t.name },
  ) : {}
}

# One pull subscription per event topic, as a template for consumers: a
# retry policy with backoff, a dead-letter policy and an attribute filter,
# message ordering with message_ordering, exactly-once delivery with
# enable_exactly_once_delivery. Consumers dedupe on the ce-id attribute:
# Gemini's delivery is at-least-once. The module makes no push
# subscription; the README's push recipe gives one the same dead-letter
# topic.
resource "google_pubsub_subscription" "example" {
  for_each = local.example_topics

  project = var.project_id
  labels  = local.labels
  name    = "${each.value}-example"
  topic   = each.value
  filter  = var.example_subscription_filter

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  # One job's events in publish order when the function sets ordering keys.
  enable_message_ordering = var.message_ordering
  # A successful ack is final (pull subscriptions only; these are pull).
  enable_exactly_once_delivery = var.enable_exactly_once_delivery

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

# Messages on a topic without subscriptions are lost: these two keep the
# quarantined deliveries and the dead letters for 7 days, for inspection
# (README, "Quarantine and dead letters"). Their backlog raises an alert.
resource "google_pubsub_subscription" "quarantine" {
  project = var.project_id
  labels  = local.labels
  name    = "${google_pubsub_topic.quarantine.name}-inspect"
  topic   = google_pubsub_topic.quarantine.id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "dead_letter" {
  project = var.project_id
  labels  = local.labels
  name    = "${google_pubsub_topic.dead_letter.name}-inspect"
  topic   = google_pubsub_topic.dead_letter.id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}
