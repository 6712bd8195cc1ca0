// Package terraform holds no Go code. Its directory is geminihook's
// Terraform deployment (see README.md there); its tests check that
// configuration offline, since no provider registry is reachable where they
// run: every file parses and is canonically formatted, every reference
// resolves, no variable goes unused, the function's entry point, runtime
// and environment match the Go code, no grant is a basic or project-wide
// admin role, and no secret value is ever written into the configuration.
// They also check the root cloudbuild.yaml.
package terraform
