# Inputs of the geminihook deployment. Only project_id has no default.
# Variables named after a GEMINIHOOK_* setting feed that environment variable
# of the function (see function.tf, local.environment); their defaults equal
# the function's own defaults, and a Go test keeps them so.

# ---------------------------------------------------------------- project ---

variable "project_id" {
  description = "Google Cloud project that receives every resource of this module (also GOOGLE_CLOUD_PROJECT of the function). The caller's google provider needs no project of its own: every resource names this one."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "The project_id must be a project ID (6-30 lowercase letters, digits or hyphens), not a project number or name."
  }
}

variable "region" {
  description = "Region of the function, its build repository and its source bucket."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "The region must be a Cloud Run functions region such as us-central1 or europe-west1."
  }
}

variable "name" {
  description = "Name of this instance: the function (and its Cloud Run service) is called so, and every other resource name derives from it (topics, secrets, service accounts, the Firestore database, log metrics, alert policies, the dashboard, buckets), so that two calls with different names in one project share nothing. The default keeps the names of the function's own defaults (topic gemini-job-events, database geminihook)."
  type        = string
  default     = "geminihook"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,18}[a-z0-9]$", var.name)) && var.name != "gemini" && !can(regex("-(run|watch)$", var.name))
    error_message = "The name must be 4-20 lowercase letters, digits or hyphens, starting with a letter (service account ids of up to 30 characters are built from it), not \"gemini\" (its topic, gemini-job-events, is the default instance's), and not ending in -run or -watch (the names of an instance's other Cloud Run services)."
  }
}

variable "labels" {
  description = "Labels set on every resource of this module that takes labels (topics, subscriptions, secrets, buckets, the image repository, the function and Cloud Run services, alert policies)."
  type        = map(string)
  default     = { app = "geminihook" }

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "Label keys must start with a lowercase letter; keys and values may hold lowercase letters, digits, _ and - (at most 63)."
  }
}

# --------------------------------------------------------------- function ---

variable "deploy_as" {
  description = "How deliveries are received. \"function\": the Cloud Run function <name>, made public with an allUsers roles/run.invoker grant. \"cloud_run\": for organizations that forbid allUsers (domain-restricted sharing): a Cloud Run service <name>-run running the image the function's build made from the same source, public through invoker_iam_disabled instead of an IAM grant; the function stays, private, as its build (README, \"Deploy as a Cloud Run service\")."
  type        = string
  default     = "function"

  validation {
    condition     = contains(["function", "cloud_run"], var.deploy_as)
    error_message = "The deploy_as must be \"function\" or \"cloud_run\"."
  }
}

variable "function_memory" {
  description = "Memory of one function instance (Cloud Run syntax, e.g. 256Mi, 512Mi, 1Gi)."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.function_memory))
    error_message = "The function_memory must be a number followed by Mi or Gi, e.g. 512Mi."
  }
}

variable "function_cpu" {
  description = "vCPUs of one function instance. Concurrency above 1 needs at least 1 vCPU."
  type        = string
  default     = "1"

  validation {
    condition     = can(regex("^([0-9]+|0\\.[0-9]+)$", var.function_cpu))
    error_message = "The function_cpu must be a number of vCPUs such as 0.5, 1 or 2."
  }
}

variable "max_instance_request_concurrency" {
  description = "Requests one instance serves at once. Deliveries spend most of their time waiting on Firestore and Pub/Sub, so one instance serves many."
  type        = number
  default     = 80

  validation {
    condition     = var.max_instance_request_concurrency >= 1 && var.max_instance_request_concurrency <= 1000
    error_message = "The max_instance_request_concurrency must be between 1 and 1000."
  }
}

variable "min_instances" {
  description = "Instances kept warm. 0 costs nothing while idle; 1 removes cold starts from Gemini's few-seconds answer budget."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && floor(var.min_instances) == var.min_instances
    error_message = "The min_instances must be a whole number, 0 or more."
  }
}

variable "max_instances" {
  description = "Upper bound of instances: caps cost and the load a flood of (forged) requests can put on Firestore and Pub/Sub."
  type        = number
  default     = 20

  validation {
    condition     = var.max_instances >= 1 && floor(var.max_instances) == var.max_instances
    error_message = "The max_instances must be a whole number, 1 or more."
  }
}

# ----------------------------------------------------------- verification ---

variable "hmac_enabled" {
  description = "Create the Secret Manager secret for v1 (HMAC) signatures of the project-level webhook, delivered at the function's URL. false sets GEMINIHOOK_SECRET=off: only per-request deliveries (per_request_webhooks) can verify."
  type        = bool
  default     = true
}

variable "signing_secret_id" {
  description = "Id of the Secret Manager secret that holds the webhook signing secret (GEMINIHOOK_SECRET); null: <name>-signing-secret. Created empty: geminihook webhooks create adds its value (README)."
  type        = string
  default     = null

  validation {
    condition     = var.signing_secret_id == null || can(regex("^[a-zA-Z0-9_-]{1,255}$", var.signing_secret_id))
    error_message = "The signing_secret_id may hold letters, digits, _ and - (at most 255)."
  }
}

variable "secret_refresh_seconds" {
  description = "How often the function reads the enabled versions of its secrets again (GEMINIHOOK_SECRET_REFRESH); a disabled version stops verifying within this time, and a new route token is known everywhere after it. A new signing secret is picked up at once when a delivery fails to verify."
  type        = number
  default     = 300

  validation {
    condition     = var.secret_refresh_seconds >= 10 && var.secret_refresh_seconds <= 86400
    error_message = "The secret_refresh_seconds must be between 10 and 86400."
  }
}

variable "secret_deletion_protection" {
  description = "Set deletion_protection on the Secret Manager secrets (signing secret, route tokens): a destroy, or a change that would delete one, fails. Set false and apply before a terraform destroy."
  type        = bool
  default     = true
}

variable "per_request_webhooks" {
  description = "Accept per-request webhooks (a job's webhook_config.uris, signed v1a Ed25519 or RS256 JWT with Google's keys) at <function url>/r/<ROUTE_TOKEN>: creates the secret route_tokens_secret_id (empty; every enabled version is a route token), lets the function read it and sets GEMINIHOOK_ROUTE_TOKENS. false: GEMINIHOOK_ROUTE_TOKENS is not set, so v1a and JWT deliveries are refused and only v1 (HMAC) verifies."
  type        = bool
  default     = false
}

variable "route_tokens_secret_id" {
  description = "Id of the Secret Manager secret whose enabled versions are the route tokens (GEMINIHOOK_ROUTE_TOKENS), created empty when per_request_webhooks is true; null: <name>-route-tokens. Add versions with gcloud (README, \"Security\")."
  type        = string
  default     = null

  validation {
    condition     = var.route_tokens_secret_id == null || can(regex("^[a-zA-Z0-9_-]{1,255}$", var.route_tokens_secret_id))
    error_message = "The route_tokens_secret_id may hold letters, digits, _ and - (at most 255)."
  }
}

variable "jwks_url" {
  description = "JWKS with Google's public keys for v1a and JWT deliveries (GEMINIHOOK_JWKS_URL), used only with per_request_webhooks; \"off\" disables both schemes."
  type        = string
  default     = "https://generativelanguage.googleapis.com/.well-known/jwks.json"

  validation {
    condition     = var.jwks_url == "off" || can(regex("^https://[^/]+/", var.jwks_url))
    error_message = "The jwks_url must be an https URL or \"off\"."
  }
}

variable "jwt_audience" {
  description = "Required aud claim of JWT deliveries (GEMINIHOOK_JWT_AUDIENCE, set only when not empty). Empty: JWT deliveries are refused; v1a deliveries still verify."
  type        = string
  default     = ""
}

variable "jwt_issuer" {
  description = "Required iss claim of JWT deliveries (GEMINIHOOK_JWT_ISSUER, set only when not empty). Empty: iss is not checked."
  type        = string
  default     = ""
}

variable "tolerance_seconds" {
  description = "How far webhook-timestamp may be from now, in the past or the future (GEMINIHOOK_TOLERANCE)."
  type        = number
  default     = 300

  validation {
    condition     = var.tolerance_seconds >= 1 && var.tolerance_seconds <= 3600
    error_message = "The tolerance_seconds must be between 1 and 3600."
  }
}

# ---------------------------------------------------------------- pub/sub ---

variable "topic" {
  description = "Pub/Sub topic for job events (GEMINIHOOK_TOPIC); null: gemini-job-events for the default name, <name>-job-events for any other. The quarantine topic is <topic>-quarantine, the dead-letter topic <topic>-dead-letter."
  type        = string
  default     = null

  validation {
    condition     = var.topic == null || can(regex("^[a-zA-Z][a-zA-Z0-9._~+%-]{2,200}$", var.topic)) && !can(regex("^(?i)goog", var.topic))
    error_message = "The topic must be a Pub/Sub topic id: 3-201 characters, starting with a letter, not with goog."
  }
}

variable "per_kind_topics" {
  description = "Also create <topic>-batch, <topic>-interaction and <topic>-video and route each job kind there (GEMINIHOOK_TOPIC_BATCH/_INTERACTION/_VIDEO). false: every kind goes to topic."
  type        = bool
  default     = false
}

variable "metadata_attributes" {
  description = "user_metadata keys of a job whose string values the function lifts into message attributes meta_<key>, for subscription filters (GEMINIHOOK_METADATA_ATTRIBUTES, set only when not empty), e.g. [\"tenant\", \"job_group\"]. At most 8 keys of 1-64 characters A-Z a-z 0-9 _ -."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.metadata_attributes) <= 8 && length(distinct(var.metadata_attributes)) == length(var.metadata_attributes) && length([for k in var.metadata_attributes : k if !can(regex("^[A-Za-z0-9_-]{1,64}$", k))]) == 0
    error_message = "The metadata_attributes are at most 8 distinct keys of 1-64 characters A-Z a-z 0-9 _ -."
  }
}

variable "message_ordering" {
  description = "Give each message the job id as its ordering key (GEMINIHOOK_ORDERING) and turn message ordering on for the example subscriptions, so that one job's events arrive in the order they were published (not Gemini's order: its deliveries are not ordered). Changing it replaces the example subscriptions."
  type        = bool
  default     = false
}

variable "enable_exactly_once_delivery" {
  description = "Exactly-once delivery on the example subscriptions (pull): a message acknowledged successfully is not delivered again, and an ack's result says whether it took (consumers use AckWithResult). Consumers still dedupe on ce-id: Gemini may deliver one event twice, and each delivery is its own message."
  type        = bool
  default     = false
}

variable "topic_message_retention_duration" {
  description = "How long every topic of the module keeps its messages, acknowledged or not, e.g. \"604800s\" (7 days): a subscription can then be sought back to a time in that window (gcloud pubsub subscriptions seek SUB --time=T) and get those messages again, even one created after them. 600s to 2678400s (31 days); empty: no topic retention (seek reaches only what a subscription itself retains)."
  type        = string
  default     = "604800s"

  validation {
    condition     = var.topic_message_retention_duration == "" || can(regex("^[0-9]+s$", var.topic_message_retention_duration)) && try(tonumber(trimsuffix(var.topic_message_retention_duration, "s")) >= 600 && tonumber(trimsuffix(var.topic_message_retention_duration, "s")) <= 2678400, false)
    error_message = "The topic_message_retention_duration must be whole seconds from 600s to 2678400s (31 days), e.g. 604800s, or empty."
  }
}

variable "create_example_subscriptions" {
  description = "Create one example pull subscription per event topic (<topic>-example) with retry policy, dead-letter policy and example_subscription_filter. The quarantine and dead-letter subscriptions are always created."
  type        = bool
  default     = true
}

variable "example_subscription_filter" {
  description = "Pub/Sub filter of the example subscriptions, on the published attributes (event_type, job_kind, outcome, ce-type, ...); empty: no filter. Example: attributes.job_kind = \"batch\" AND attributes.outcome = \"failed\"."
  type        = string
  default     = "attributes.job_kind != \"unknown\""

  validation {
    condition     = length(var.example_subscription_filter) <= 256
    error_message = "A Pub/Sub filter is at most 256 bytes."
  }
}

variable "max_delivery_attempts" {
  description = "Delivery attempts of a subscription before a message goes to the dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

# -------------------------------------------------------------- firestore ---

variable "firestore_database" {
  description = "Firestore (native mode) database of the dedup ledger (GEMINIHOOK_FIRESTORE_DATABASE); null: the name (geminihook by default). A database of its own: a project's (default) database often holds other applications' data. (default) is allowed for a ledger that already lives there; the function can reach the ledger database only, whichever it is."
  type        = string
  default     = null

  validation {
    condition     = var.firestore_database == null || var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "The firestore_database must be 4-63 lowercase letters, digits or hyphens, starting with a letter (or (default) for an existing ledger)."
  }
}

variable "create_firestore_database" {
  description = "Create the Firestore database firestore_database. Set false when it already exists; it must be in native mode."
  type        = bool
  default     = true
}

variable "firestore_location" {
  description = "Location of a created Firestore database (e.g. nam5, eur3, us-central1); empty: region. Ignored when create_firestore_database is false."
  type        = string
  default     = ""
}

variable "ledger_collection" {
  description = "Firestore collection of the dedup ledger (GEMINIHOOK_COLLECTION); its expire_at field gets the TTL policy."
  type        = string
  default     = "gemini_webhook_deliveries"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,1500}$", var.ledger_collection)) && !startswith(var.ledger_collection, "__")
    error_message = "The ledger_collection must be a top-level collection id without / and not starting with __."
  }
}

variable "lease_seconds" {
  description = "How long a claimed delivery blocks its duplicates (GEMINIHOOK_LEASE). Must exceed request_timeout_seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.lease_seconds >= 1
    error_message = "The lease_seconds must be positive."
  }
}

variable "retention_hours" {
  description = "How long a ledger record is kept before TTL deletion (GEMINIHOOK_RETENTION); at least 24, Gemini's retry window."
  type        = number
  default     = 168

  validation {
    condition     = var.retention_hours >= 24
    error_message = "The retention_hours must be at least 24: Gemini retries a delivery for 24 hours."
  }
}

# ----------------------------------------------------------------- limits ---

variable "request_timeout_seconds" {
  description = "Deadline of one delivery's work; past it the answer is 503, or 408 while the body is still arriving (GEMINIHOOK_REQUEST_TIMEOUT). Cloud Run's own request timeout is set 2 seconds above it. Gemini wants an answer within a few seconds."
  type        = number
  default     = 8

  validation {
    condition     = var.request_timeout_seconds >= 1 && var.request_timeout_seconds <= 60 && floor(var.request_timeout_seconds) == var.request_timeout_seconds
    error_message = "The request_timeout_seconds must be a whole number between 1 and 60."
  }
}

variable "max_body_bytes" {
  description = "Largest accepted body; larger ones are answered 413 (GEMINIHOOK_MAX_BODY_BYTES). At most 4194304 (4 MiB), the function's own bound (events.MaxBodyBytes)."
  type        = number
  default     = 1048576

  validation {
    condition     = var.max_body_bytes >= 1024 && var.max_body_bytes <= 4194304 && floor(var.max_body_bytes) == var.max_body_bytes
    error_message = "The max_body_bytes must be a whole number between 1024 and 4194304 (4 MiB, the function's own bound)."
  }
}

variable "log_level" {
  description = "Lowest level the function logs (GEMINIHOOK_LOG_LEVEL)."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "The log_level must be debug, info, warn or error."
  }
}

# ------------------------------------------------------------- monitoring ---

variable "trace_sample_ratio" {
  description = "Share of new traces the function records and exports to Cloud Trace, 0 to 1 (GEMINIHOOK_TRACE_SAMPLE_RATIO); a delivery whose trace the caller sampled is recorded too. 0 turns tracing off, and the function's roles/cloudtrace.agent grant with it."
  type        = number
  default     = 0.1

  validation {
    condition     = var.trace_sample_ratio >= 0 && var.trace_sample_ratio <= 1
    error_message = "The trace_sample_ratio is a share from 0 to 1."
  }
}

variable "notification_channels" {
  description = "Monitoring notification channels for the alert policies, as full names projects/P/notificationChannels/ID. Empty: alerts open incidents without notifying."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each notification channel must be a full name: projects/PROJECT/notificationChannels/ID."
  }
}

variable "error_rate_threshold" {
  description = "Alert when more than this share of requests is answered 5xx over 5 minutes (0.05 = 5 %)."
  type        = number
  default     = 0.05

  validation {
    condition     = var.error_rate_threshold > 0 && var.error_rate_threshold <= 1
    error_message = "The error_rate_threshold is a share between 0 (exclusive) and 1."
  }
}

variable "verification_failure_ratio" {
  description = "Alert when more than this share of the requests of 5 minutes fail verification with a 401 (bad_signature, stale_timestamp, bad_route_token, token_reused): 0.5 = 50 %. A share, not a count, so that internet scanners do not page anyone."
  type        = number
  default     = 0.5

  validation {
    condition     = var.verification_failure_ratio > 0 && var.verification_failure_ratio < 1
    error_message = "The verification_failure_ratio is a share between 0 and 1 (both exclusive)."
  }
}

variable "verification_failure_min_requests" {
  description = "The verification failure alert needs at least this many requests in the 5 minutes, so that one stray request is not a 100 % failure rate."
  type        = number
  default     = 20

  validation {
    condition     = var.verification_failure_min_requests >= 1 && floor(var.verification_failure_min_requests) == var.verification_failure_min_requests
    error_message = "The verification_failure_min_requests must be a whole number, 1 or more."
  }
}

# ---------------------------------------------------------------- watcher ---

variable "webhook_watch" {
  description = <<-EOT
    The webhook watcher (README, "Watch the webhooks"): a second, private function from the same source (entry point GeminiWebhookWatch) that Cloud Scheduler
    calls on schedule (cron, in time_zone) with an OIDC token; it lists the project's Gemini webhooks with the API key in the Secret Manager secret
    api_key_secret_id (an id in project_id, made by you: the module only grants the watcher read access to it) and logs each one's state, and with
    auto_reenable also re-enables a webhook Gemini disabled after failed deliveries. A log-based metric and an alert policy page when a webhook leaves
    enabled. enabled = false (the default): none of it is created.
  EOT
  type = object({
    enabled           = optional(bool, false)
    schedule          = optional(string, "*/5 * * * *")
    time_zone         = optional(string, "Etc/UTC")
    auto_reenable     = optional(bool, false)
    api_key_secret_id = optional(string, "gemini-api-key")
  })
  default  = {}
  nullable = false

  validation {
    condition     = can(regex("^\\S+( \\S+){4}$", var.webhook_watch.schedule))
    error_message = "webhook_watch.schedule must be a cron schedule of five fields, e.g. */5 * * * *."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.webhook_watch.api_key_secret_id))
    error_message = "webhook_watch.api_key_secret_id must be a Secret Manager secret id (letters, digits, _ and -) in project_id."
  }
}

# ------------------------------------------------------------ cloud build ---

variable "cloud_build" {
  description = <<-EOT
    Cloud Build triggers that test and deploy this configuration from a GitHub repository (README, "Deploy with Cloud Build"); null: none. Exactly one of
    github (the Cloud Build GitHub App's connection: {owner, name}) or repository (a Cloud Build 2nd-gen repository, projects/P/locations/L/connections/C/repositories/R).
    A pull request to branch runs the tests and a plan (service account <name>-plan: reads the state, changes nothing); a push to branch runs them again
    and applies, once approved in Cloud Build (service account <name>-deploy). state_bucket holds the Terraform state (it must exist, versioning on),
    under state_prefix (null: the name); config is the build file and tf_dir the root configuration it applies, both relative to the repository root.
  EOT
  type = object({
    github = optional(object({
      owner = string
      name  = string
    }))
    repository   = optional(string)
    branch       = optional(string, "main")
    state_bucket = string
    state_prefix = optional(string)
    config       = optional(string, "cloudbuild.yaml")
    tf_dir       = optional(string, "terraform/examples/basic")
  })
  default = null

  validation {
    condition     = var.cloud_build == null || try((var.cloud_build.github == null) != (var.cloud_build.repository == null), false)
    error_message = "Give cloud_build exactly one of github ({owner, name}) and repository (a 2nd-gen repository id)."
  }

  validation {
    condition     = var.cloud_build == null || try(var.cloud_build.repository == null || can(regex("^projects/[^/]+/locations/[^/]+/connections/[^/]+/repositories/[^/]+$", var.cloud_build.repository)), false)
    error_message = "cloud_build.repository must be projects/P/locations/L/connections/C/repositories/R."
  }

  validation {
    condition     = var.cloud_build == null || try(can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.cloud_build.state_bucket)), false)
    error_message = "cloud_build.state_bucket must be a bucket name."
  }
}
