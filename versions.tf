terraform {
  # 1.4 for terraform_data (the zip build); optional() object attributes need 1.3.
  # The module's own tests (mock_provider in tests/*.tftest.hcl) need Terraform 1.7.
  required_version = ">= 1.4"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}
