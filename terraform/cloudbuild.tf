# Cloud Build triggers (var.cloud_build; none when it is null): the
# repository's cloudbuild.yaml tests and plans every pull request, and
# tests, plans and applies every push to the branch once someone approves
# the build in Cloud Build. Each trigger runs as a service account of its
# own:
#
#   <name>-plan    pull requests: code that is not reviewed yet runs with
#                  it, so it can change nothing. It reads the state (object
#                  viewer on the state bucket alone) and plans without a
#                  lock and without refreshing (-lock=false -refresh=false:
#                  cloudbuild.yaml, _APPLY=false), so it needs no read access
#                  to the deployed resources either: only the project's
#                  metadata (the google_project data source) and, with
#                  deploy_as = "cloud_run", the function's service (the
#                  image the Cloud Run service runs).
#   <name>-deploy  the branch, after approval: the roles an apply of this
#                  module needs (below), no basic role, each as narrow as
#                  the services allow.

locals {
  ci = var.cloud_build != null

  # A 2nd-gen repository lives in a region, and so must its triggers;
  # GitHub App (1st gen) triggers are global.
  ci_location = local.ci ? (var.cloud_build.repository != null ? regex("^projects/[^/]+/locations/([^/]+)/", var.cloud_build.repository)[0] : "global") : null

  ci_substitutions = local.ci ? {
    _TF_STATE_BUCKET = var.cloud_build.state_bucket
    _TF_STATE_PREFIX = var.cloud_build.state_prefix != null ? var.cloud_build.state_prefix : var.name
    _REGION          = var.region
    _TF_DIR          = var.cloud_build.tf_dir
  } : {}

  # The branch, as the exact-match regex triggers take.
  ci_branch = local.ci ? "^${replace(var.cloud_build.branch, ".", "\\.")}$" : null

  ci_plan_member   = local.ci ? "serviceAccount:${google_service_account.ci_plan[0].email}" : null
  ci_deploy_member = local.ci ? "serviceAccount:${google_service_account.ci_deploy[0].email}" : null

  # Project roles of the plan account.
  ci_plan_roles = local.ci ? toset(concat(
    [
      "roles/logging.logWriter", # its build logs
      "roles/browser",           # data.google_project: the project's number
    ],
    local.cloud_run ? ["roles/run.viewer"] : [], # data.google_cloud_run_v2_service: the function's image
  )) : toset([])

  # Project roles of the deploy account without an IAM condition: those
  # whose resources the module creates (creation is a project permission),
  # or that exist at project level only. Two more, held by conditions, are
  # below (project IAM, storage); actAs is granted per service account.
  ci_deploy_roles = local.ci ? toset([
    "roles/logging.logWriter",              # its build logs
    "roles/browser",                        # read the project
    "roles/serviceusage.serviceUsageAdmin", # enable the required APIs
    "roles/iam.serviceAccountAdmin",        # the module's service accounts and their actAs grants
    "roles/cloudfunctions.developer",       # the functions (no IAM on them)
    "roles/run.admin",                      # Cloud Run: IAM of the services (invokers), the cloud_run service
    "roles/artifactregistry.admin",         # the image repository and its writer grant
    "roles/pubsub.admin",                   # topics, subscriptions, their IAM
    "roles/datastore.owner",                # the ledger database and its TTL field
    "roles/secretmanager.admin",            # the secrets (empty) and their IAM
    "roles/logging.configWriter",           # log-based metrics
    "roles/monitoring.editor",              # alert policies, dashboard
    "roles/cloudbuild.builds.editor",       # these triggers
    "roles/cloudscheduler.admin",           # the watcher's schedule
  ]) : toset([])

  # The only roles the deploy account may grant or revoke on the project:
  # the project-level grants this module makes to its runtime identities
  # and to the plan account. Its own roles are not among them, so a change
  # to them (or any other project grant) needs a person's apply.
  ci_grantable_roles = [
    "roles/datastore.user",
    "roles/cloudtrace.agent",
    "roles/logging.logWriter",
    "roles/storage.objectViewer",
    "roles/browser",
    "roles/run.viewer",
  ]

  # The module's service accounts, which the deploy account must be able to
  # act as (to deploy the functions and services that run as them, and the
  # triggers and schedules that use them), and no other.
  ci_act_as = local.ci ? merge(
    {
      function  = google_service_account.function.name
      build     = google_service_account.build.name
      ci_plan   = google_service_account.ci_plan[0].name
      ci_deploy = google_service_account.ci_deploy[0].name
    },
    local.watch ? {
      watch         = google_service_account.watch[0].name
      watch_invoker = google_service_account.watch_invoker[0].name
    } : {},
  ) : {}
}

resource "google_service_account" "ci_plan" {
  count = local.ci ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name}-plan"
  display_name = "${var.name} CI plan (pull requests)"
  description  = "Cloud Build runs pull requests of ${var.name} as this account: tests and a Terraform plan from the state, without changing anything."

  depends_on = [google_project_service.required]
}

resource "google_service_account" "ci_deploy" {
  count = local.ci ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name}-deploy"
  display_name = "${var.name} CI deploy (approved pushes)"
  description  = "Cloud Build applies ${var.name}'s Terraform as this account, after a push to the branch is approved."

  depends_on = [google_project_service.required]
}

# ------------------------------------------------------------ plan account ---

resource "google_project_iam_member" "ci_plan" {
  for_each = local.ci_plan_roles

  project = var.project_id
  role    = each.value
  member  = local.ci_plan_member
}

resource "google_storage_bucket_iam_member" "ci_plan_state" {
  count = local.ci ? 1 : 0

  bucket = var.cloud_build.state_bucket
  role   = "roles/storage.objectViewer"
  member = local.ci_plan_member
}

# ---------------------------------------------------------- deploy account ---

resource "google_project_iam_member" "ci_deploy" {
  for_each = local.ci_deploy_roles

  project = var.project_id
  role    = each.value
  member  = local.ci_deploy_member
}

# Project IAM, held by a condition to the roles the module grants on the
# project (the delegation of role grants that IAM conditions allow): the
# deploy account cannot grant itself, or anyone, any other role.
resource "google_project_iam_member" "ci_deploy_project_iam" {
  count = local.ci ? 1 : 0

  project = var.project_id
  role    = "roles/resourcemanager.projectIamAdmin"
  member  = local.ci_deploy_member

  condition {
    title       = "${var.name}-grants-of-the-module-only"
    description = "Grant and revoke only the project roles the ${var.name} module grants."
    expression  = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([${join(", ", [for r in local.ci_grantable_roles : "'${r}'"])}])"
  }
}

# Storage, held by a condition to the function's source buckets (ours,
# created by the apply, and the one Cloud Functions owns), as the build's
# own grant is.
resource "google_project_iam_member" "ci_deploy_storage" {
  count = local.ci ? 1 : 0

  project = var.project_id
  role    = "roles/storage.admin"
  member  = local.ci_deploy_member

  condition {
    title       = "${var.name}-function-source-only"
    description = "Only the ${var.name} function's source buckets and their objects."
    expression  = local.build_source_condition
  }
}

# The state: read and write (locks) in the state bucket alone.
resource "google_storage_bucket_iam_member" "ci_deploy_state" {
  count = local.ci ? 1 : 0

  bucket = var.cloud_build.state_bucket
  role   = "roles/storage.objectAdmin"
  member = local.ci_deploy_member
}

# actAs on the module's service accounts only, not project-wide.
resource "google_service_account_iam_member" "ci_deploy_act_as" {
  for_each = local.ci_act_as

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = local.ci_deploy_member
}

# ---------------------------------------------------------------- triggers ---

resource "google_cloudbuild_trigger" "pull_request" {
  count = local.ci ? 1 : 0

  project         = var.project_id
  location        = local.ci_location
  name            = "${var.name}-pull-request"
  description     = "${var.name}: tests and a Terraform plan of every pull request to ${var.cloud_build.branch} (changes nothing)."
  filename        = var.cloud_build.config
  service_account = google_service_account.ci_plan[0].id
  substitutions   = merge(local.ci_substitutions, { _APPLY = "false" })

  dynamic "github" {
    for_each = var.cloud_build.github != null ? [var.cloud_build.github] : []
    content {
      owner = github.value.owner
      name  = github.value.name
      pull_request {
        branch = local.ci_branch
        # Pull requests from outside the repository's collaborators run only
        # after a collaborator comments /gcbrun.
        comment_control = "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY"
      }
    }
  }

  dynamic "repository_event_config" {
    for_each = var.cloud_build.repository != null ? [var.cloud_build.repository] : []
    content {
      repository = repository_event_config.value
      pull_request {
        branch          = local.ci_branch
        comment_control = "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY"
      }
    }
  }

  depends_on = [
    google_project_iam_member.ci_plan,
    google_storage_bucket_iam_member.ci_plan_state,
  ]
}

resource "google_cloudbuild_trigger" "deploy" {
  count = local.ci ? 1 : 0

  project         = var.project_id
  location        = local.ci_location
  name            = "${var.name}-deploy"
  description     = "${var.name}: tests, plan and apply of every push to ${var.cloud_build.branch}, once approved."
  filename        = var.cloud_build.config
  service_account = google_service_account.ci_deploy[0].id
  substitutions   = merge(local.ci_substitutions, { _APPLY = "true" })

  # Nothing is applied until someone with roles/cloudbuild.builds.approver
  # approves the build (Cloud Build, Approvals).
  approval_config {
    approval_required = true
  }

  dynamic "github" {
    for_each = var.cloud_build.github != null ? [var.cloud_build.github] : []
    content {
      owner = github.value.owner
      name  = github.value.name
      push {
        branch = local.ci_branch
      }
    }
  }

  dynamic "repository_event_config" {
    for_each = var.cloud_build.repository != null ? [var.cloud_build.repository] : []
    content {
      repository = repository_event_config.value
      push {
        branch = local.ci_branch
      }
    }
  }

  depends_on = [
    google_project_iam_member.ci_deploy,
    google_project_iam_member.ci_deploy_project_iam,
    google_project_iam_member.ci_deploy_storage,
    google_storage_bucket_iam_member.ci_deploy_state,
    google_service_account_iam_member.ci_deploy_act_as,
  ]
}
