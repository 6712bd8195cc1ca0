# geminihook twice in one project, staging and prod, from one module block
# with for_each. Each instance is named geminihook-<environment>, and every
# resource name derives from that name: each gets its own function, topics
# (geminihook-staging-job-events, ...), secrets, service accounts, ledger
# database, log metrics, alert policies, dashboard and buckets, and neither
# can read or publish what the other owns. A Go test evaluates the names of
# both instances and finds no two alike.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "geminihook" {
  source   = "../.."
  for_each = var.environments

  project_id = var.project_id
  region     = var.region
  name       = "geminihook-${each.key}"
  labels     = { app = "geminihook", environment = each.key }

  min_instances         = each.value.min_instances
  log_level             = each.value.log_level
  notification_channels = each.value.notification_channels
}
