# The settings most deployments change; each is passed to the module as it
# is, with the module's own default (a Go test keeps them equal). Any other
# module input can be added to main.tf's module block.

variable "project_id" {
  description = "Google Cloud project to deploy into."
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
}

variable "deploy_as" {
  description = "\"function\" (public function), or \"cloud_run\" for organizations that forbid allUsers (a Cloud Run service with its invoker check off)."
  type        = string
  default     = "function"
}

variable "per_request_webhooks" {
  description = "Accept per-request webhooks (a job's webhook_config.uris, v1a or JWT) at <function url>/r/<ROUTE_TOKEN>; creates the route tokens secret."
  type        = bool
  default     = false
}

variable "jwt_audience" {
  description = "The aud claim JWT deliveries must carry; empty: JWT deliveries are refused."
  type        = string
  default     = ""
}

variable "jwt_issuer" {
  description = "The iss claim JWT deliveries must carry; empty: not checked."
  type        = string
  default     = ""
}

variable "per_kind_topics" {
  description = "Route batch.*, interaction.* and video.* events to topics of their own."
  type        = bool
  default     = false
}

variable "min_instances" {
  description = "Instances kept warm; 1 removes cold starts."
  type        = number
  default     = 0
}

variable "firestore_database" {
  description = "Firestore database of the ledger; null: a database of its own named after the module's name (geminihook)."
  type        = string
  default     = null
}

variable "create_firestore_database" {
  description = "Create the ledger database; false for an existing one."
  type        = bool
  default     = true
}

variable "notification_channels" {
  description = "Monitoring notification channels of the alert policies (projects/P/notificationChannels/ID)."
  type        = list(string)
  default     = []
}

variable "secret_deletion_protection" {
  description = "deletion_protection on the secrets; set false and apply before a destroy."
  type        = bool
  default     = true
}

variable "webhook_watch" {
  description = "The webhook watcher: { enabled = true } deploys it (Cloud Scheduler calls it every 5 minutes; it reads the Gemini API key from the secret gemini-api-key, which you create); see the module's README."
  type = object({
    enabled           = optional(bool, false)
    schedule          = optional(string, "*/5 * * * *")
    time_zone         = optional(string, "Etc/UTC")
    auto_reenable     = optional(bool, false)
    api_key_secret_id = optional(string, "gemini-api-key")
  })
  default  = {}
  nullable = false
}
