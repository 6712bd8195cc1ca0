# The dedup ledger: a Firestore (native mode) database, created here or
# existing, and the TTL policy that deletes a record once its expire_at has
# passed (TTL deletion lags up to 24 h; the function itself treats an
# expired record as absent).

resource "google_firestore_database" "ledger" {
  count = var.create_firestore_database ? 1 : 0

  project     = var.project_id
  name        = local.ledger_database
  location_id = var.firestore_location != "" ? var.firestore_location : var.region
  type        = "FIRESTORE_NATIVE"
  # Destroying this module leaves the database and its records in place.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.required]
}

locals {
  firestore_database = var.create_firestore_database ? google_firestore_database.ledger[0].name : local.ledger_database
}

# TTL on the ledger's expiry field; the empty index_config turns the
# field's single-field indexes off: nothing queries by expire_at, and an
# index on a monotonically growing timestamp limits write throughput.
resource "google_firestore_field" "ledger_expire_at" {
  project    = var.project_id
  database   = local.firestore_database
  collection = var.ledger_collection
  field      = "expire_at"

  ttl_config {}

  index_config {}

  depends_on = [google_project_service.required]
}
