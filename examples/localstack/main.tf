# Deploys the module to LocalStack with a plain `terraform apply`: the provider's
# endpoints point at LocalStack, with test credentials and no calls to AWS's own
# metadata/STS checks. `tflocal apply` works here too (its override wins).

terraform {
  required_version = ">= 1.4"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}

variable "localstack_endpoint" {
  description = "LocalStack gateway URL used for every AWS service endpoint."
  type        = string
  default     = "http://localhost:4566"

  validation {
    condition     = can(regex("^https?://[^/]+/?$", var.localstack_endpoint))
    error_message = "localstack_endpoint must be a URL like http://localhost:4566."
  }
}

variable "region" {
  description = "Region reported to LocalStack (it appears in ARNs and the Function URL host)."
  type        = string
  default     = "us-east-1"
}

variable "function_name" {
  description = "Name of the Lambda function."
  type        = string
  default     = "square"
}

provider "aws" {
  region = var.region

  # LocalStack accepts any credentials; "test" is its convention.
  access_key = "test"
  secret_key = "test"

  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {
    cloudwatch     = var.localstack_endpoint
    cloudwatchlogs = var.localstack_endpoint
    iam            = var.localstack_endpoint
    lambda         = var.localstack_endpoint
    sts            = var.localstack_endpoint
  }
}

module "square" {
  source = "../.."

  function_name = var.function_name
  tags          = { environment = "localstack" }
}

output "function_url" {
  description = "Function URL; on LocalStack send it to the gateway with this URL's Host header (see README)."
  value       = module.square.function_url
}

output "function_name" {
  description = "Name of the deployed function."
  value       = module.square.function_name
}
