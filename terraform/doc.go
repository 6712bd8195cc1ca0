// Package terraform holds no Go code. Its directory is geminihook's
// Terraform module (see README.md there), with the root configurations
// that call it under examples/; its tests check them offline, since no
// provider registry is reachable where they run: every file parses and is
// canonically formatted, every reference resolves, no variable goes unused,
// the module has no provider or backend block and documents its whole
// interface, the examples call it as a module should be called (once, and
// twice with for_each, with no resource name shared), the function's entry
// point, runtime, environment, body bound, database and result labels match
// the Go code, no grant is a basic or project-wide admin role or an
// unconditioned storage role, the secrets are empty and deletion-protected,
// no secret value is ever written into the configuration, and the source
// archive (rebuilt as the archive provider builds it) and git leave key
// material and Terraform state out. They also check the root
// cloudbuild.yaml, .gitignore and .gcloudignore.
package terraform
