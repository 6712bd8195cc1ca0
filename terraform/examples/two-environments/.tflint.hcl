# tflint configuration for geminihook's Terraform. Only the terraform ruleset
# bundled inside the tflint binary is used: no `tflint --init`, no plugin
# download, so it runs offline (CI installs tflint with `go install`).
config {
  format = "compact"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

# Beyond the recommended preset.
rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_naming_convention" {
  enabled = true
}

rule "terraform_comment_syntax" {
  enabled = true
}

rule "terraform_standard_module_structure" {
  enabled = true
}
