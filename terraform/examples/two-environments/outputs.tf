output "function_urls" {
  description = "URL of each environment's function, by environment: register each with Gemini as a webhook of its own."
  value       = { for env, m in module.geminihook : env => m.function_url }
}

output "topics" {
  description = "Pub/Sub topic ids of each environment, by environment and role."
  value       = { for env, m in module.geminihook : env => m.topics }
}

output "next_steps" {
  description = "The commands to run after the first apply, by environment (terraform output -json next_steps | jq -r .staging)."
  value       = { for env, m in module.geminihook : env => m.next_steps }
}
