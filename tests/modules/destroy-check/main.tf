# For the check after destroy (tests/acceptance/test_destroy_check.py): a bucket, and a log group with a stream.
# Quick to apply (no function, no queue). The aws provider's refresh of a bucket it cannot reach counts it as
# deleted; aws_cloudwatch_log_stream has no boto3 probe, so the check reads it through the provider.

terraform {
  required_version = ">= 1.4"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "name" {
  description = "Name of the bucket and the log group."
  type        = string
}

resource "aws_s3_bucket" "this" {
  bucket        = var.name
  force_destroy = true
}

resource "aws_cloudwatch_log_group" "this" {
  name = "/test/${var.name}"
}

resource "aws_cloudwatch_log_stream" "this" {
  name           = "first"
  log_group_name = aws_cloudwatch_log_group.this.name
}

output "bucket" {
  value = aws_s3_bucket.this.id
}

output "log_group" {
  value = aws_cloudwatch_log_group.this.name
}
