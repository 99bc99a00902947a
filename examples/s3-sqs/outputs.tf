output "function_url" {
  description = "The api function's URL: POST text, GET ?id=<id> for the result."
  value       = aws_lambda_function_url.api.function_url
}

output "function_names" {
  description = "Function name by role (api, worker)."
  value       = { for key, function in aws_lambda_function.this : key => function.function_name }
}

output "bucket_name" {
  description = "The bucket holding incoming/ texts, processed/ results and config/settings.json."
  value       = aws_s3_bucket.uploads.id
}

output "queue_url" {
  description = "The queue S3 notifies and the worker reads."
  value       = aws_sqs_queue.jobs.id
}

output "role_name" {
  description = "The functions' execution role."
  value       = aws_iam_role.functions.name
}
