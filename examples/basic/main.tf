# Calls the module with no provider configuration: credentials and region come from the
# environment (AWS_PROFILE / AWS_REGION ...) on real AWS, or from tflocal's generated
# override when run as `tflocal apply` against LocalStack.

terraform {
  required_version = ">= 1.4"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}

module "square" {
  source = "../.."

  function_name         = "square-basic"
  log_retention_in_days = 7
}

output "function_url" {
  description = "POST {\"number\": 6} to this URL."
  value       = module.square.function_url
}

output "function_name" {
  description = "Name of the deployed function."
  value       = module.square.function_name
}
