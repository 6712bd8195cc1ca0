# geminihook in one project, with the module's defaults: the function, its
# topics, secrets, ledger database, service accounts and monitoring (the
# module's README lists them). Copy this directory to start a configuration
# of your own, with source = "github.com/geminihook/geminihook//terraform?ref=<tag>".

provider "google" {
  project = var.project_id
  region  = var.region
}

module "geminihook" {
  source = "../.."

  project_id = var.project_id
  region     = var.region
  deploy_as  = var.deploy_as

  per_request_webhooks      = var.per_request_webhooks
  jwt_audience              = var.jwt_audience
  jwt_issuer                = var.jwt_issuer
  per_kind_topics           = var.per_kind_topics
  min_instances             = var.min_instances
  firestore_database        = var.firestore_database
  create_firestore_database = var.create_firestore_database
  notification_channels     = var.notification_channels

  secret_deletion_protection = var.secret_deletion_protection

  webhook_watch = var.webhook_watch
}
