# Two environments of geminihook in one project:
#
#   terraform -chdir=terraform/examples/two-environments init
#   terraform -chdir=terraform/examples/two-environments apply -var=project_id=my-project
#
# State. No backend block: a plain init keeps the state in
# terraform.tfstate in this directory (ignored by git, never in the
# function's source archive). For shared state in a GCS bucket (versioning
# on), write backend.tf next to this file, as cloudbuild.yaml does:
#
#   terraform {
#     backend "gcs" {}
#   }
#
# and run init with -backend-config=bucket=MY_STATE_BUCKET
# -backend-config=prefix=geminihook (README, "State").
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.5"
    }
  }
}
