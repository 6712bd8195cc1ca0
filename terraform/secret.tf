# The v1 (HMAC) signing secret of the project's Gemini webhook. Terraform
# creates the secret EMPTY and never a version: the value comes from
# Gemini (new_signing_secret) and goes straight into Secret Manager with
# gcloud, so it never appears in Terraform state, plans or logs.
#
# The function accepts every ENABLED version, so a rotation is: add the new
# version, keep both enabled for Gemini's 24-hour overlap, disable the old.

resource "google_secret_manager_secret" "signing" {
  count = var.hmac_enabled ? 1 : 0

  project   = var.project_id
  secret_id = var.signing_secret_id

  replication {
    auto {}
  }

  depends_on = [google_project_service.required]
}
