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
      description = "published, duplicate, in_flight, quarantined (answered 2xx or 409); invalid_headers, bad_signature, stale_timestamp, bad_route_token, token_reused (rejected by verification); not_found, method_not_allowed, too_large, truncated_body, timeout (rejected, the client's doing); keys_unavailable, backend_unavailable, misconfigured (503)."
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

# The results answered 401: a signature, timestamp, route token or JWT that
# does not verify. invalid_headers (400, no webhook headers at all) is left
# out: that is what internet scanners get, and it says nothing about our
# secret or tokens.
locals {
  verification_failure_results = ["bad_signature", "stale_timestamp", "bad_route_token", "token_reused"]
  verification_failure_filter  = "labels.result=(${join(" OR ", [for r in local.verification_failure_results : "\"${r}\""])})"
}

resource "google_logging_metric" "verification_failures" {
  project     = var.project_id
  name        = "${var.name}/verification_failures"
  description = "Requests ${var.name} answered 401 before any I/O: no valid signature, a timestamp outside the tolerance, a per-request delivery without a known route token, a JWT presented again."
  filter      = "${local.delivery_log_filter} AND ${local.verification_failure_filter}"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name} verification failures"

    labels {
      key         = "result"
      value_type  = "STRING"
      description = "bad_signature, stale_timestamp, bad_route_token or token_reused."
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
    "resource.label.service_name=\"${local.service_name}\"",
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
  user_labels           = local.labels
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
      misconfigured). What clients cause is 4xx and never counts here
      (timeout 408 for a body that does not arrive in time, truncated_body,
      not_found, too_large); a 5xx without an access line comes from Cloud Run
      itself. ${local.logs_explorer_hint} AND httpRequest.status>=500
    EOT
  }

  depends_on = [google_project_service.required]
}

# A share of the requests, not a count: internet scanners send a steady
# trickle of forged or junk requests, which must not page anyone, while a
# wrong or rotated secret, or a route token disabled too early, fails most
# real deliveries. Both conditions must hold (AND): more than
# verification_failure_ratio of the requests of 5 minutes failed with a
# 401, and there were at least verification_failure_min_requests of them.
resource "google_monitoring_alert_policy" "verification_failures" {
  project               = var.project_id
  user_labels           = local.labels
  display_name          = "${var.name}: verification failures above ${format("%.0f", var.verification_failure_ratio * 100)}% of requests"
  combiner              = "AND"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "More than ${format("%.0f", var.verification_failure_ratio * 100)}% of requests answered 401 over 5 minutes"

    condition_threshold {
      filter             = local.failures_metric
      denominator_filter = local.deliveries_metric
      comparison         = "COMPARISON_GT"
      threshold_value    = var.verification_failure_ratio
      duration           = "0s"

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

  conditions {
    display_name = "At least ${var.verification_failure_min_requests} requests in 5 minutes"

    condition_threshold {
      filter          = local.deliveries_metric
      comparison      = "COMPARISON_GE"
      threshold_value = var.verification_failure_min_requests
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
      Most requests to ${var.name} fail verification (401). bad_signature for
      scheme v1: the signing secret is wrong, or was rotated at Gemini without
      adding the new version. stale_timestamp: a clock is off, or deliveries
      are replayed. bad_route_token: per-request deliveries at / or at a route
      token that is not (or no longer) enabled, e.g. a token disabled before
      the jobs using it finished. token_reused: a JWT presented again.
      Forged requests cost no database I/O.
      ${local.logs_explorer_hint} AND ${local.verification_failure_filter}
    EOT
  }
}

resource "google_monitoring_alert_policy" "quarantine_backlog" {
  project               = var.project_id
  user_labels           = local.labels
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
  user_labels           = local.labels
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
        { filter = "metric.type=\"run.googleapis.com/container/instance_count\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${local.service_name}\"", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group = ["metric.label.state"], plot = "STACKED_AREA" },
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
