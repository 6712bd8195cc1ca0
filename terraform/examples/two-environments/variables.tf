variable "project_id" {
  description = "Google Cloud project that holds both environments."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "The project_id must be a project ID (6-30 lowercase letters, digits or hyphens), not a project number or name."
  }
}

variable "region" {
  description = "Region of both environments' functions."
  type        = string
  default     = "us-central1"
}

variable "environments" {
  description = "The environments, by key: each is one instance of the module, named geminihook-<key> (a key of at most 9 lowercase letters, digits or hyphens keeps the name within the module's 20 characters)."
  type = map(object({
    min_instances         = optional(number, 0)
    log_level             = optional(string, "info")
    notification_channels = optional(list(string), [])
  }))
  default = {
    staging = { log_level = "debug" }
    prod    = { min_instances = 1 }
  }

  validation {
    condition     = alltrue([for k in keys(var.environments) : can(regex("^[a-z0-9]([a-z0-9-]{0,7}[a-z0-9])?$", k))])
    error_message = "Each environment key must be 1-9 lowercase letters, digits or hyphens, not starting or ending with a hyphen."
  }
}
