# No backend block here on purpose: a local `terraform apply` keeps its state
# in a local file, and cloudbuild.yaml writes a backend.tf with an empty
# `backend "gcs" {}` before `terraform init -backend-config=bucket=...`
# (partial configuration). See README.md, "State".
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

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = var.labels
}
