# For a deployment made before terraform/ became a module (`terraform
# apply` run in terraform/ itself): its state names these resources at the
# root. Bring that state here (copy terraform/terraform.tfstate into this
# directory, or init with the same gcs backend and prefix) and the next plan
# moves each into module.geminihook, with nothing replaced (README,
# "Upgrading from the root-module layout"). On a new state they do nothing.
# A Go test keeps this list equal to the resources of the old root.

moved {
  from = google_artifact_registry_repository.functions
  to   = module.geminihook.google_artifact_registry_repository.functions
}

moved {
  from = google_artifact_registry_repository_iam_member.build_writer
  to   = module.geminihook.google_artifact_registry_repository_iam_member.build_writer
}

moved {
  from = google_cloud_run_v2_service_iam_member.public_invoker
  to   = module.geminihook.google_cloud_run_v2_service_iam_member.public_invoker[0]
}

moved {
  from = google_cloudfunctions2_function.webhook
  to   = module.geminihook.google_cloudfunctions2_function.webhook
}

moved {
  from = google_firestore_database.ledger
  to   = module.geminihook.google_firestore_database.ledger
}

moved {
  from = google_firestore_field.ledger_expire_at
  to   = module.geminihook.google_firestore_field.ledger_expire_at
}

moved {
  from = google_logging_metric.deliveries
  to   = module.geminihook.google_logging_metric.deliveries
}

moved {
  from = google_logging_metric.latency
  to   = module.geminihook.google_logging_metric.latency
}

moved {
  from = google_logging_metric.quarantined
  to   = module.geminihook.google_logging_metric.quarantined
}

moved {
  from = google_logging_metric.verification_failures
  to   = module.geminihook.google_logging_metric.verification_failures
}

moved {
  from = google_monitoring_alert_policy.dead_letter_backlog
  to   = module.geminihook.google_monitoring_alert_policy.dead_letter_backlog
}

moved {
  from = google_monitoring_alert_policy.error_rate
  to   = module.geminihook.google_monitoring_alert_policy.error_rate
}

moved {
  from = google_monitoring_alert_policy.quarantine_backlog
  to   = module.geminihook.google_monitoring_alert_policy.quarantine_backlog
}

moved {
  from = google_monitoring_alert_policy.verification_failures
  to   = module.geminihook.google_monitoring_alert_policy.verification_failures
}

moved {
  from = google_monitoring_dashboard.main
  to   = module.geminihook.google_monitoring_dashboard.main
}

moved {
  from = google_project_iam_member.build_log_writer
  to   = module.geminihook.google_project_iam_member.build_log_writer
}

moved {
  from = google_project_iam_member.build_object_viewer
  to   = module.geminihook.google_project_iam_member.build_object_viewer
}

moved {
  from = google_project_iam_member.function_datastore_user
  to   = module.geminihook.google_project_iam_member.function_datastore_user
}

moved {
  from = google_project_iam_member.function_trace_agent
  to   = module.geminihook.google_project_iam_member.function_trace_agent
}

moved {
  from = google_project_service.required
  to   = module.geminihook.google_project_service.required
}

moved {
  from = google_pubsub_subscription.dead_letter
  to   = module.geminihook.google_pubsub_subscription.dead_letter
}

moved {
  from = google_pubsub_subscription.example
  to   = module.geminihook.google_pubsub_subscription.example
}

moved {
  from = google_pubsub_subscription.quarantine
  to   = module.geminihook.google_pubsub_subscription.quarantine
}

moved {
  from = google_pubsub_subscription_iam_member.dead_letter_subscriber
  to   = module.geminihook.google_pubsub_subscription_iam_member.dead_letter_subscriber
}

moved {
  from = google_pubsub_topic.dead_letter
  to   = module.geminihook.google_pubsub_topic.dead_letter
}

moved {
  from = google_pubsub_topic.events
  to   = module.geminihook.google_pubsub_topic.events
}

moved {
  from = google_pubsub_topic.kind
  to   = module.geminihook.google_pubsub_topic.kind
}

moved {
  from = google_pubsub_topic.quarantine
  to   = module.geminihook.google_pubsub_topic.quarantine
}

moved {
  from = google_pubsub_topic_iam_member.dead_letter_publisher
  to   = module.geminihook.google_pubsub_topic_iam_member.dead_letter_publisher
}

moved {
  from = google_pubsub_topic_iam_member.function_publisher
  to   = module.geminihook.google_pubsub_topic_iam_member.function_publisher
}

moved {
  from = google_secret_manager_secret.route_tokens
  to   = module.geminihook.google_secret_manager_secret.route_tokens
}

moved {
  from = google_secret_manager_secret.signing
  to   = module.geminihook.google_secret_manager_secret.signing
}

moved {
  from = google_secret_manager_secret_iam_member.function_accessor
  to   = module.geminihook.google_secret_manager_secret_iam_member.function_accessor
}

moved {
  from = google_secret_manager_secret_iam_member.function_route_tokens_accessor
  to   = module.geminihook.google_secret_manager_secret_iam_member.function_route_tokens_accessor
}

moved {
  from = google_secret_manager_secret_iam_member.function_route_tokens_viewer
  to   = module.geminihook.google_secret_manager_secret_iam_member.function_route_tokens_viewer
}

moved {
  from = google_secret_manager_secret_iam_member.function_viewer
  to   = module.geminihook.google_secret_manager_secret_iam_member.function_viewer
}

moved {
  from = google_service_account.build
  to   = module.geminihook.google_service_account.build
}

moved {
  from = google_service_account.function
  to   = module.geminihook.google_service_account.function
}

moved {
  from = google_storage_bucket.source
  to   = module.geminihook.google_storage_bucket.source
}

moved {
  from = google_storage_bucket_object.source
  to   = module.geminihook.google_storage_bucket_object.source
}
