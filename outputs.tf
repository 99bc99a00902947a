output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "ARN for invoking the function from API Gateway (apigateway service-integration ARN)."
  value       = aws_lambda_function.this.invoke_arn
}

output "function_url" {
  description = "HTTPS (on LocalStack: HTTP) endpoint of the Function URL; POST {\"number\": 6} to it."
  value       = aws_lambda_function_url.this.function_url
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role (attach extra policies to it)."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the CloudWatch log group the function writes to."
  value       = aws_cloudwatch_log_group.this.name
}

output "source_code_hash" {
  description = "Base64 SHA-256 of the packaged sources' manifest (file names and hashes plus the packager); changes exactly when the deployed code changes."
  value       = aws_lambda_function.this.source_code_hash
}
