# What the next steps need: the URLs to give Gemini, the secrets to fill,
# the topics and subscriptions to consume. `terraform output -raw
# next_steps` prints the commands.

output "function_url" {
  description = "HTTPS URL that receives the deliveries: register it as the project-level webhook uri with Gemini (v1 signatures). The function's URL, or with deploy_as = \"cloud_run\" the Cloud Run service's."
  value       = local.receiver_url
}

output "per_request_webhook_url" {
  description = "URL template of per-request webhooks (a job's webhook_config.uris), with the route token elided: replace <ROUTE_TOKEN> with an enabled version of the route tokens secret. null when per_request_webhooks is false."
  value       = var.per_request_webhooks ? local.per_request_url : null
}

output "function_name" {
  description = "Name of the function (with deploy_as = \"cloud_run\", the private function whose build makes the image)."
  value       = google_cloudfunctions2_function.webhook.name
}

output "service_name" {
  description = "Cloud Run service that receives the deliveries (resource.labels.service_name in logs and metrics): the function's own service, or <name>-run with deploy_as = \"cloud_run\"."
  value       = local.service_name
}

output "service_account_email" {
  description = "Identity the receiver runs as (the function, or the Cloud Run service)."
  value       = google_service_account.function.email
}

output "topics" {
  description = "Pub/Sub topic ids by role: events (and batch, interaction, video when per_kind_topics), quarantine, dead_letter."
  value = merge(
    local.publish_topics,
    { dead_letter = google_pubsub_topic.dead_letter.name },
  )
}

output "subscriptions" {
  description = "Pub/Sub subscription ids: the example subscriptions by topic role, and the quarantine and dead-letter inspection subscriptions."
  value = {
    examples    = { for role, s in google_pubsub_subscription.example : role => s.name }
    quarantine  = google_pubsub_subscription.quarantine.name
    dead_letter = google_pubsub_subscription.dead_letter.name
  }
}

output "signing_secret_id" {
  description = "Full name of the Secret Manager secret for the v1 signing secret (null when hmac_enabled is false). It has no version until you add one."
  value       = var.hmac_enabled ? google_secret_manager_secret.signing[0].id : null
}

output "route_tokens_secret_id" {
  description = "Full name of the Secret Manager secret whose enabled versions are the route tokens (null when per_request_webhooks is false). It has no version until you add one."
  value       = var.per_request_webhooks ? google_secret_manager_secret.route_tokens[0].id : null
}

output "firestore_database" {
  description = "Firestore database of the dedup ledger."
  value       = local.firestore_database
}

output "logs_filter" {
  description = "Logs Explorer query for the function's access lines (one per request); add e.g. AND labels.result=\"bad_signature\"."
  value       = local.delivery_log_filter
}

output "webhook_watch" {
  description = "The webhook watcher, when webhook_watch.enabled: its function, its Cloud Scheduler job, the Secret Manager secret it reads the Gemini API key from, and the logs filter of its webhook state lines; null otherwise."
  value = local.watch ? {
    function_name  = google_cloudfunctions2_function.watch[0].name
    scheduler_job  = google_cloud_scheduler_job.watch[0].id
    api_key_secret = local.watch_api_key_secret
    logs_filter    = local.watch_log_filter
  } : null
}

output "dashboard_id" {
  description = "Id of the Cloud Monitoring dashboard."
  value       = google_monitoring_dashboard.main.id
}

locals {
  # The per-request URL, token elided: the token is a secret and never
  # appears in Terraform's configuration, state or output.
  per_request_url = "${local.receiver_url}/r/<ROUTE_TOKEN>"

  # The Secret Manager secret holding the Gemini API key, made by the user
  # (the watcher reads the same one).
  api_key_secret_id = var.webhook_watch.api_key_secret_id

  # Every event type there is: what the webhook subscribes to.
  event_types = "batch.succeeded,batch.failed,batch.expired,interaction.requires_action,interaction.completed,interaction.failed,video.generated"

  # Pieces of next_steps (flush heredocs, chosen by plain conditionals). The
  # README ("Register the webhook") shows the same commands; a Go test
  # keeps them equal.
  register_with_secret = <<-EOT
    #    Gemini returns the signing secret once: the command adds it straight to the secret
    #    ${local.signing_secret_id}, never on screen, and prints the webhook's id (WEBHOOK_ID below).
    geminihook webhooks create --uri ${local.receiver_url} --project ${var.project_id} --secret ${local.signing_secret_id} --api-key-secret ${local.api_key_secret_id} --events ${local.event_types}
    #    Check the whole path, Gemini to function to Pub/Sub (exit 1 if the ping never arrives),
    #    then the webhooks' state (exit 1 when one is disabled):
    geminihook webhooks ping WEBHOOK_ID --wait --topic ${local.topic} --project ${var.project_id} --api-key-secret ${local.api_key_secret_id}
    geminihook webhooks status --project ${var.project_id} --api-key-secret ${local.api_key_secret_id}
  EOT

  register_none = <<-EOT
    #    hmac_enabled is false: no project-level webhook; per-request webhooks only (below).
  EOT

  route_token_steps = <<-EOT

    # 2b. Per-request webhooks: make a route token (from the repository root) and store
    #    it as a version of the route tokens secret; every enabled version is accepted.
    geminihook keys --out geminihook-keys
    gcloud secrets versions add ${local.route_tokens_secret_id} --project=${var.project_id} --data-file=geminihook-keys/route-token.txt
    rm -r geminihook-keys
    #    Give each job webhook_config.uris = ["${local.per_request_url}"],
    #    <ROUTE_TOKEN> being the token; read it back with
    gcloud secrets versions access latest --secret=${local.route_tokens_secret_id} --project=${var.project_id}
    #    Rotate: add a new version, wait ${var.secret_refresh_seconds}s (secret_refresh_seconds), move the
    #    jobs to the new URL, then disable the old version once its jobs are done
    #    (README, "Security"). Cloud Run's request logs record the token: restrict who reads them.
  EOT

  no_route_token_steps = <<-EOT

    #    Per-request webhooks (v1a/JWT) are off: set per_request_webhooks = true to accept them.
  EOT

  consume_example = <<-EOT
    gcloud pubsub subscriptions pull ${local.topic}-example --project=${var.project_id} --limit=5 --auto-ack
  EOT

  consume_own = <<-EOT
    gcloud pubsub subscriptions create my-consumer --topic=${local.topic} --project=${var.project_id}
  EOT
}

output "next_steps" {
  description = "Commands to run after the first apply: credentials, the Gemini API key into Secret Manager, register the webhook with Gemini (its signing secret straight into Secret Manager) and check it end to end, make and store a route token for per-request webhooks, then check a delivery and consume the events."
  value       = <<-EOT
    # 0. Application Default Credentials, for gcloud's client libraries and the geminihook CLI
    #    (and for Terraform itself):
    gcloud auth application-default login
    # 1. The Gemini API key: make one in Google AI Studio (https://aistudio.google.com/apikey)
    #    and keep it in Secret Manager, once per project (the CLI and the watcher read it there):
    printf %s "$GEMINI_API_KEY" | gcloud secrets create ${local.api_key_secret_id} --project=${var.project_id} --data-file=-
    # 2. Register the webhook with Gemini, with the geminihook CLI (from the repository root):
    go install ./cmd/geminihook
    ${var.hmac_enabled ? local.register_with_secret : local.register_none}${var.per_request_webhooks ? local.route_token_steps : local.no_route_token_steps}
    # 3. Check: a GET is answered 405, and every request leaves one access line.
    curl -s -o /dev/null -w '%%{http_code}\n' ${local.receiver_url}
    gcloud logging read '${local.delivery_log_filter}' --project=${var.project_id} --limit=10 --freshness=1h

    # 4. Consume job events (README, "Subscribe a service").
    ${var.create_example_subscriptions ? local.consume_example : local.consume_own}
  EOT
}
