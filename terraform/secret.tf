# The function's two secrets, both created EMPTY: Terraform never creates a
# version, so no secret value ever appears in Terraform state, plans or logs.
#
#   signing       the v1 (HMAC) signing secret of the project's Gemini
#                 webhook: its value comes from Gemini (new_signing_secret
#                 when the webhook is created, secret when it is rotated) and
#                 goes straight into Secret Manager with gcloud.
#   route_tokens  the route tokens of per-request webhooks (per_request_webhooks):
#                 v1a/JWT deliveries are accepted only at /r/<token> with one
#                 of them. Made with `geminihook keys` (route-token.txt) and
#                 added with gcloud.
#
# The function accepts every ENABLED version of each, so a rotation is: add
# the new version, move over, disable the old (README, "Security").
#
# deletion_protection (the provider's, on by default here): a destroy, or a
# change that would delete a secret with all its versions, fails until
# secret_deletion_protection is set false and applied.

resource "google_secret_manager_secret" "signing" {
  count = var.hmac_enabled ? 1 : 0

  project             = var.project_id
  labels              = local.labels
  secret_id           = local.signing_secret_id
  deletion_protection = var.secret_deletion_protection

  replication {
    auto {}
  }

  depends_on = [google_project_service.required]
}

resource "google_secret_manager_secret" "route_tokens" {
  count = var.per_request_webhooks ? 1 : 0

  project             = var.project_id
  labels              = local.labels
  secret_id           = local.route_tokens_secret_id
  deletion_protection = var.secret_deletion_protection

  replication {
    auto {}
  }

  depends_on = [google_project_service.required]
}
