# Monitoring, from the function's own access log: each request writes one
# line with jsonPayload.message = "delivery", httpRequest (status, latency),
# jsonPayload.latency_ms and the entry labels result, event_type, job_kind,
# outcome, scheme and webhook_id. Log-based metrics turn those lines into
# time series; alert policies and a dashboard read them next to Cloud Run's
# and Pub/Sub's built-in metrics.

# ------------------------------------------------------ log-based metrics ---

resource "google_logging_metric" "deliveries" {
  project     = var.project_id
  name        = "${var.name}/deliveries"
  description = "Webhook requests answered by ${var.name}, by result, HTTP status, event type, job kind, outcome and signature scheme."
  filter      = local.delivery_log_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name} deliveries"

    labels {
      key         = "result"
      value_type  = "STRING"
      description = "published, duplicate, in_flight, quarantined, invalid_headers, bad_signature, stale_timestamp, too_large, method_not_allowed, keys_unavailable, backend_unavailable or misconfigured."
    }
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "HTTP status of the answer."
    }
    labels {
      key         = "event_type"
      value_type  = "STRING"
      description = "Gemini event type, e.g. batch.succeeded."
    }
    labels {
      key         = "job_kind"
      value_type  = "STRING"
      description = "batch, interaction, video or unknown."
    }
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "succeeded, failed, expired, cancelled, requires_action or unknown."
    }
    labels {
      key         = "scheme"
      value_type  = "STRING"
      description = "Signature scheme that verified the delivery: v1, v1a or jwt."
    }
  }

  label_extractors = {
    result     = "EXTRACT(labels.result)"
    status     = "EXTRACT(httpRequest.status)"
    event_type = "EXTRACT(labels.event_type)"
    job_kind   = "EXTRACT(labels.job_kind)"
    outcome    = "EXTRACT(labels.outcome)"
    scheme     = "EXTRACT(labels.scheme)"
  }

  depends_on = [google_project_service.required]
}

resource "google_logging_metric" "verification_failures" {
  project     = var.project_id
  name        = "${var.name}/verification_failures"
  description = "Requests ${var.name} rejected before any I/O: missing or malformed webhook headers, no valid signature, timestamp outside the tolerance."
  filter      = "${local.delivery_log_filter} AND labels.result=(\"invalid_headers\" OR \"bad_signature\" OR \"stale_timestamp\")"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name} verification failures"

    labels {
      key         = "result"
      value_type  = "STRING"
      description = "invalid_headers, bad_signature or stale_timestamp."
    }
  }

  label_extractors = {
    result = "EXTRACT(labels.result)"
  }

  depends_on = [google_project_service.required]
}

resource "google_logging_metric" "quarantined" {
  project     = var.project_id
  name        = "${var.name}/quarantined"
  description = "Authentic deliveries whose body ${var.name} could not parse, published to the quarantine topic."
  filter      = "${local.delivery_log_filter} AND labels.result=\"quarantined\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name} quarantined deliveries"
  }

  depends_on = [google_project_service.required]
}

resource "google_logging_metric" "latency" {
  project         = var.project_id
  name            = "${var.name}/delivery_latency"
  description     = "Time ${var.name} spent on one request, by result (jsonPayload.latency_ms)."
  filter          = local.delivery_log_filter
  value_extractor = "EXTRACT(jsonPayload.latency_ms)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "${var.name} delivery latency"

    labels {
      key         = "result"
      value_type  = "STRING"
      description = "Result of the request, as in the deliveries metric."
    }
  }

  label_extractors = {
    result = "EXTRACT(labels.result)"
  }

  # 1 ms to about 430 s in 32 buckets growing by half.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 32
      growth_factor      = 1.5
      scale              = 1
    }
  }

  depends_on = [google_project_service.required]
}

locals {
  run_requests_filter = join(" AND ", [
    "metric.type=\"run.googleapis.com/request_count\"",
    "resource.type=\"cloud_run_revision\"",
    "resource.label.service_name=\"${var.name}\"",
  ])

  backlog_filter = join(" AND ", [
    "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\"",
    "resource.type=\"pubsub_subscription\"",
  ])

  logs_explorer_hint = "Logs Explorer: ${local.delivery_log_filter}"
}

# --------------------------------------------------------- alert policies ---

resource "google_monitoring_alert_policy" "error_rate" {
  project               = var.project_id
  display_name          = "${var.name}: 5xx answers above ${format("%.1f", var.error_rate_threshold * 100)}%"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Share of 5xx answers over 5 minutes"

    condition_threshold {
      filter             = "${local.run_requests_filter} AND metric.label.response_code_class=\"5xx\""
      denominator_filter = local.run_requests_filter
      comparison         = "COMPARISON_GT"
      threshold_value    = var.error_rate_threshold
      duration           = "120s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ${var.name} answers 5xx: Gemini retries these deliveries for 24 hours, then
      may disable the webhook. 503 means a backend (Firestore, Pub/Sub, Secret
      Manager, the JWKS) failed or the deadline passed; the access line's
      `labels.result` says which (backend_unavailable, keys_unavailable,
      misconfigured). ${local.logs_explorer_hint} AND httpRequest.status>=500
    EOT
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "verification_failures" {
  project               = var.project_id
  display_name          = "${var.name}: verification failure spike"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "More than ${var.verification_failure_threshold} failed verifications in 5 minutes"

    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.verification_failures.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.verification_failure_threshold
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Many requests to ${var.name} fail verification. Either someone is sending
      forged or replayed requests (they cost no database I/O), or the signing
      secret is wrong or was rotated without adding the new version
      (bad_signature for scheme v1), or a clock is off (stale_timestamp).
      ${local.logs_explorer_hint} AND labels.result=("invalid_headers" OR "bad_signature" OR "stale_timestamp")
    EOT
  }
}

resource "google_monitoring_alert_policy" "quarantine_backlog" {
  project               = var.project_id
  display_name          = "${var.name}: quarantined deliveries waiting"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Undelivered messages on ${google_pubsub_subscription.quarantine.name}"

    condition_threshold {
      filter          = "${local.backlog_filter} AND resource.label.subscription_id=\"${google_pubsub_subscription.quarantine.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Authentic Gemini deliveries that ${var.name} could not parse wait on
      subscription ${google_pubsub_subscription.quarantine.name}. Pull them
      (gcloud pubsub subscriptions pull ${google_pubsub_subscription.quarantine.name} --limit=10),
      fix what produced them, republish what should be processed, then ack.
    EOT
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  project               = var.project_id
  display_name          = "${var.name}: dead letters waiting"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Undelivered messages on ${google_pubsub_subscription.dead_letter.name}"

    condition_threshold {
      filter          = "${local.backlog_filter} AND resource.label.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A consumer failed ${var.max_delivery_attempts} times on a job event; Pub/Sub
      moved it to ${google_pubsub_topic.dead_letter.name}. Inspect with
      gcloud pubsub subscriptions pull ${google_pubsub_subscription.dead_letter.name} --limit=10
      (the attribute CloudPubSubDeadLetterSourceSubscription names the consumer).
    EOT
  }

  depends_on = [google_project_service.required]
}

# --------------------------------------------------------------- dashboard ---

locals {
  deliveries_metric = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.deliveries.name}\" AND resource.type=\"cloud_run_revision\""
  latency_metric    = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.latency.name}\" AND resource.type=\"cloud_run_revision\""
  failures_metric   = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.verification_failures.name}\" AND resource.type=\"cloud_run_revision\""

  # Each chart: title, unit label, and data sets of (filter, aligner,
  # reducer, group-by fields, plot type).
  dashboard_charts = [
    {
      title = "Deliveries by result"
      unit  = "requests/s"
      sets = [
        { filter = local.deliveries_metric, aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group = ["metric.label.result"], plot = "STACKED_BAR" },
      ]
    },
    {
      title = "Answers by status class (Cloud Run)"
      unit  = "requests/s"
      sets = [
        { filter = local.run_requests_filter, aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group = ["metric.label.response_code_class"], plot = "STACKED_BAR" },
      ]
    },
    {
      title = "Delivery latency p50 / p95 / p99"
      unit  = "ms"
      sets = [
        { filter = local.latency_metric, aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_50", group = [], plot = "LINE" },
        { filter = local.latency_metric, aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_95", group = [], plot = "LINE" },
        { filter = local.latency_metric, aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_99", group = [], plot = "LINE" },
      ]
    },
    {
      title = "Verification failures by result"
      unit  = "requests/s"
      sets = [
        { filter = local.failures_metric, aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group = ["metric.label.result"], plot = "STACKED_BAR" },
      ]
    },
    {
      title = "Published events by job kind and outcome"
      unit  = "events/s"
      sets = [
        { filter = "${local.deliveries_metric} AND metric.label.result=\"published\"", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group = ["metric.label.job_kind", "metric.label.outcome"], plot = "STACKED_AREA" },
      ]
    },
    {
      title = "Quarantine and dead-letter backlog"
      unit  = "messages"
      sets = [
        { filter = "${local.backlog_filter} AND resource.label.subscription_id=one_of(\"${google_pubsub_subscription.quarantine.name}\", \"${google_pubsub_subscription.dead_letter.name}\")", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group = ["resource.label.subscription_id"], plot = "LINE" },
      ]
    },
    {
      title = "Instances (Cloud Run)"
      unit  = "instances"
      sets = [
        { filter = "metric.type=\"run.googleapis.com/container/instance_count\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${var.name}\"", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group = ["metric.label.state"], plot = "STACKED_AREA" },
      ]
    },
    {
      title = "Example subscriptions backlog"
      unit  = "messages"
      sets = [
        { filter = "${local.backlog_filter} AND resource.label.subscription_id=ends_with(\"-example\")", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group = ["resource.label.subscription_id"], plot = "LINE" },
      ]
    },
  ]
}

resource "google_monitoring_dashboard" "main" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "${var.name}: Gemini webhooks"
    mosaicLayout = {
      columns = 48
      tiles = [for i, chart in local.dashboard_charts : {
        xPos   = (i % 2) * 24
        yPos   = floor(i / 2) * 16
        width  = 24
        height = 16
        widget = {
          title = chart.title
          xyChart = {
            dataSets = [for set in chart.sets : {
              plotType   = set.plot
              targetAxis = "Y1"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = set.filter
                  aggregation = {
                    alignmentPeriod    = "60s"
                    perSeriesAligner   = set.aligner
                    crossSeriesReducer = set.reducer
                    groupByFields      = set.group
                  }
                }
              }
            }]
            yAxis = {
              label = chart.unit
              scale = "LINEAR"
            }
          }
        }
      }]
    }
  })

  depends_on = [google_project_service.required]
}
