# A reusable module: no provider block and no backend here. The caller
# configures the google provider (project, region, credentials) and where
# the state lives; examples/basic is such a caller, and what the README's
# one-command deploy applies. Without a provider block inside, the module
# can be called with count and for_each (examples/two-environments).
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    # archive_file's excludes take glob patterns since 2.5.0.
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.5"
    }
  }
}
