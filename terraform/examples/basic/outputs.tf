# Every output of the module, under the same name, so that
# `terraform output -raw next_steps` (and the README's other commands) work
# here as they would in the module. A Go test keeps the list complete.

output "function_url" {
  description = "HTTPS URL that receives the deliveries: register it as the project-level webhook uri with Gemini (v1 signatures). The function's URL, or with deploy_as = \"cloud_run\" the Cloud Run service's."
  value       = module.geminihook.function_url
}

output "per_request_webhook_url" {
  description = "URL template of per-request webhooks (a job's webhook_config.uris), with the route token elided: replace <ROUTE_TOKEN> with an enabled version of the route tokens secret. null when per_request_webhooks is false."
  value       = module.geminihook.per_request_webhook_url
}

output "function_name" {
  description = "Name of the function (with deploy_as = \"cloud_run\", the private function whose build makes the image)."
  value       = module.geminihook.function_name
}

output "service_name" {
  description = "Cloud Run service that receives the deliveries (resource.labels.service_name in logs and metrics): the function's own service, or <name>-run with deploy_as = \"cloud_run\"."
  value       = module.geminihook.service_name
}

output "service_account_email" {
  description = "Identity the receiver runs as (the function, or the Cloud Run service)."
  value       = module.geminihook.service_account_email
}

output "topics" {
  description = "Pub/Sub topic ids by role: events (and batch, interaction, video when per_kind_topics), quarantine, dead_letter."
  value       = module.geminihook.topics
}

output "subscriptions" {
  description = "Pub/Sub subscription ids: the example subscriptions by topic role, and the quarantine and dead-letter inspection subscriptions."
  value       = module.geminihook.subscriptions
}

output "signing_secret_id" {
  description = "Full name of the Secret Manager secret for the v1 signing secret (null when hmac_enabled is false). It has no version until you add one."
  value       = module.geminihook.signing_secret_id
}

output "route_tokens_secret_id" {
  description = "Full name of the Secret Manager secret whose enabled versions are the route tokens (null when per_request_webhooks is false). It has no version until you add one."
  value       = module.geminihook.route_tokens_secret_id
}

output "firestore_database" {
  description = "Firestore database of the dedup ledger."
  value       = module.geminihook.firestore_database
}

output "logs_filter" {
  description = "Logs Explorer query for the function's access lines (one per request); add e.g. AND labels.result=\"bad_signature\"."
  value       = module.geminihook.logs_filter
}

output "webhook_watch" {
  description = "The webhook watcher, when webhook_watch.enabled: its function, its Cloud Scheduler job, the Secret Manager secret it reads the Gemini API key from, and the logs filter of its webhook state lines; null otherwise."
  value       = module.geminihook.webhook_watch
}

output "dashboard_id" {
  description = "Id of the Cloud Monitoring dashboard."
  value       = module.geminihook.dashboard_id
}

output "next_steps" {
  description = "Commands to run after the first apply: credentials, the Gemini API key into Secret Manager, register the webhook with Gemini (its signing secret straight into Secret Manager) and check it end to end, make and store a route token for per-request webhooks, then check a delivery and consume the events."
  value       = module.geminihook.next_steps
}
