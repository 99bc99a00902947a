# Square Lambda behind a Function URL: IAM role, log group, zip package, function, URL.
# No provider block here: callers configure "aws" (tflocal injects LocalStack endpoints
# through an override file, which a provider block inside the module would break).

locals {
  source_dir    = "${path.module}/lambda"
  packager_path = "${path.module}/scripts/package_lambda.py"

  # Same filter as scripts/package_lambda.py: byte-code caches are not code.
  source_files = sort([
    for file in fileset(local.source_dir, "**") : file
    if !can(regex("(^|/)__pycache__/|\\.py[co]$", file))
  ])

  # Content hash of everything that determines the zip's bytes: each file's name and
  # sha256, plus the packager itself (a change in how we zip must redeploy too). It is
  # known at plan time, unlike a hash of a zip that does not exist yet.
  source_manifest = join("\n", concat(
    [for file in local.source_files : "${file} ${filesha256("${local.source_dir}/${file}")}"],
    ["packager ${filesha256(local.packager_path)}"],
  ))
  content_hash = sha256(local.source_manifest)

  # Named after the content: concurrent workspaces and edited sources never overwrite a
  # zip another plan refers to, and identical sources share one (identical) file.
  zip_path = "${path.module}/builds/lambda-${local.content_hash}.zip"

  log_group_name = "/aws/lambda/${var.function_name}"
  # IAM role names are limited to 64 characters, like function names.
  role_name = substr("${var.function_name}-role", 0, 64)
}

# ----------------------------------------------------------------------------- package
# The zip is built with Terraform built-ins instead of hashicorp/archive: that provider
# cannot be installed from air-gapped mirrors that carry hashicorp/aws alone, and an
# archive_file data source re-zips on every plan. terraform_data is part of Terraform
# itself; it is replaced (and the zip rebuilt) exactly when the content hash changes, and
# because the hash and path are known at plan time it works from a saved plan too.
resource "terraform_data" "package" {
  triggers_replace = local.content_hash
  input            = local.zip_path

  provisioner "local-exec" {
    # local-exec appends `command` as the last argument of `interpreter`: no shell, so
    # paths with spaces and Windows work alike.
    interpreter = [var.python_executable, local.packager_path, "--source-dir", local.source_dir, "--output"]
    command     = local.zip_path
  }
}

# --------------------------------------------------------------------------------- IAM
resource "aws_iam_role" "this" {
  name        = local.role_name
  description = "Execution role of the ${var.function_name} Lambda function"
  tags        = var.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "LambdaAssumeRole"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

# Least privilege: write log events to this function's own log group, nothing else.
# logs:CreateLogGroup is deliberately absent: the group is managed below.
resource "aws_iam_role_policy" "logs" {
  name = "write-own-log-group"
  role = aws_iam_role.this.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WriteOwnLogGroup"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = "${aws_cloudwatch_log_group.this.arn}:*"
    }]
  })
}

# Only with tracing_mode = "Active": Lambda then sends trace segments as the execution role.
# X-Ray's write actions support no resource-level permissions, so "*" is the narrowest
# resource there is (the same as AWS's AWSXRayDaemonWriteAccess, minus its sampling reads).
resource "aws_iam_role_policy" "xray" {
  count = var.tracing_mode == "Active" ? 1 : 0

  name = "write-xray-traces"
  role = aws_iam_role.this.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WriteTraces"
      Effect   = "Allow"
      Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      Resource = "*"
    }]
  })
}

# ----------------------------------------------------------------------------- logging
# Created before the function (see depends_on below): otherwise Lambda creates
# /aws/lambda/<name> itself on the first invoke, with no retention and outside Terraform,
# and a later apply fails because the group already exists.
resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_338:Retention is the caller's choice (log_retention_in_days, validated to CloudWatch's values); the 14-day default suits a demo function and 365+ is one variable away.
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_id
  tags              = var.tags
}

# ---------------------------------------------------------------------------- function
resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_116:A dead-letter queue only receives failed asynchronous invocations; Function URL and RequestResponse invokes are synchronous and return errors to the caller.
  # checkov:skip=CKV_AWS_117:The function calls no private resource; a VPC would only add ENIs and NAT cost. Callers who need one can wrap the module.
  # checkov:skip=CKV_AWS_115:Opt-in via reserved_concurrent_executions; the default stays unreserved because reserving fails on accounts whose concurrency quota is at AWS's minimum unreserved pool.
  # checkov:skip=CKV_AWS_272:Code signing needs a signing profile and an S3-hosted signed artifact; this module builds its zip locally. A user choice outside the module's scope.
  function_name = var.function_name
  description   = "Squares a number (direct invoke or Function URL)"
  role          = aws_iam_role.this.arn
  runtime       = var.runtime
  handler       = var.handler
  memory_size   = var.memory_size
  timeout       = var.timeout
  architectures = var.architectures
  tags          = var.tags

  # -1 = unreserved (the provider's default). A number caps the concurrency, and so the cost,
  # of a public URL.
  reserved_concurrent_executions = var.reserved_concurrent_executions

  # null = Lambda's AWS-managed key; a customer-managed key is optional.
  kms_key_arn = var.environment_kms_key_arn

  # PassThrough is Lambda's default (no sampling by the function); Active also needs the
  # xray role policy above.
  tracing_config {
    mode = var.tracing_mode
  }

  # The output of terraform_data, so the zip is built before the function is created or
  # updated. The hash comes from the sources, not the zip bytes: an unchanged tree gives
  # an empty plan, an edited handler an in-place code update.
  filename         = terraform_data.package.output
  source_code_hash = base64sha256(local.source_manifest)

  dynamic "environment" {
    # An empty environment block would show a perpetual diff.
    for_each = length(var.environment_variables) > 0 ? [var.environment_variables] : []
    content {
      variables = environment.value
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.logs,
  ]
}

# ------------------------------------------------------------------------ function URL
resource "aws_lambda_function_url" "this" {
  # checkov:skip=CKV_AWS_258:A public URL is the point of this module when authorization_type = "NONE" (the default); "AWS_IAM" is one variable away and is validated.
  function_name      = aws_lambda_function.this.function_name
  authorization_type = var.authorization_type
  invoke_mode        = var.invoke_mode

  dynamic "cors" {
    for_each = var.cors == null ? [] : [var.cors]
    content {
      allow_credentials = cors.value.allow_credentials
      allow_headers     = cors.value.allow_headers
      allow_methods     = cors.value.allow_methods
      allow_origins     = cors.value.allow_origins
      expose_headers    = cors.value.expose_headers
      max_age           = cors.value.max_age
    }
  }
}

# On AWS a URL with authorization NONE answers 403 unless the function's resource policy
# lets anyone invoke it through the URL. The condition FunctionUrlAuthType=NONE limits this
# statement to URL requests; it does not allow the Invoke API.
resource "aws_lambda_permission" "public_url" {
  # checkov:skip=CKV_AWS_301:Exists only when authorization_type = "NONE" (a deliberately public URL), and the FunctionUrlAuthType = NONE condition limits it to URL requests, not the Invoke API.
  count = var.authorization_type == "NONE" ? 1 : 0

  statement_id           = "AllowPublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}
