# Text in, text out, asynchronously: POST text to the api function's URL; it stores the text under incoming/ in
# the bucket; S3 notifies the queue; the queue feeds the worker function (event source mapping), which writes its
# result under processed/; GET the URL with ?id= to read it.
#
#   client --POST--> api (Function URL) --PutObject--> s3://<name>-uploads/incoming/<id>.txt
#                                                              | s3:ObjectCreated:* (notification)
#                                                              v
#   client <--GET?id-- api <--GetObject-- processed/<id>.json <-- worker <-- SQS <name>-jobs
#
# Only hashicorp/aws and Terraform built-ins: the zip is built by terraform_data + local-exec python (no
# hashicorp/archive), so it works offline with a mirror holding hashicorp/aws alone.

locals {
  source_dir = "${path.module}/src"
  # Content hash of the sources (known at plan time): the zip is rebuilt and the code updated exactly when it changes.
  source_files = sort(fileset(local.source_dir, "*.py"))
  content_hash = sha256(join("\n", [for file in local.source_files : "${file} ${filesha256("${local.source_dir}/${file}")}"]))
  zip_path     = "${path.module}/builds/app-${local.content_hash}.zip"

  bucket_name = "${var.name}-uploads"
  functions = {
    api    = { handler = "app.api", description = "Stores submitted text in S3 and returns results" }
    worker = { handler = "app.worker", description = "Processes texts S3 announced through SQS" }
  }
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# ----------------------------------------------------------------------------- package
# A deterministic zip (sorted entries, fixed timestamps and modes), written to a temp file and renamed.
resource "terraform_data" "package" {
  triggers_replace = local.content_hash
  input            = local.zip_path

  provisioner "local-exec" {
    interpreter = [
      var.python_executable, "-c",
      <<-PY
      import os, pathlib, sys, tempfile, zipfile
      source, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
      out.parent.mkdir(parents=True, exist_ok=True)
      fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
      with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
          for path in sorted(source.glob("*.py")):
              entry = zipfile.ZipInfo(path.name, (1980, 1, 1, 0, 0, 0))
              entry.external_attr, entry.create_system = 0o100644 << 16, 3
              archive.writestr(entry, path.read_bytes(), zipfile.ZIP_DEFLATED)
      os.replace(tmp, out)
      PY
      , local.source_dir
    ]
    command = local.zip_path
  }
}

# ------------------------------------------------------------------------------ storage
resource "aws_s3_bucket" "uploads" {
  bucket = local.bucket_name
  # The functions write objects Terraform does not manage; destroy removes them with the bucket.
  force_destroy = true
}

# Read by the worker at run time: an object Terraform manages.
resource "aws_s3_object" "settings" {
  bucket       = aws_s3_bucket.uploads.id
  key          = "config/settings.json"
  content      = jsonencode({ greeting = "processed by ${var.name}" })
  content_type = "application/json"
}

resource "aws_sqs_queue" "jobs" {
  name = "${var.name}-jobs"
  # At least six times the worker's timeout, as AWS recommends for a queue feeding a function.
  visibility_timeout_seconds = 60
  message_retention_seconds  = 3600
  sqs_managed_sse_enabled    = true

  # S3 may send this bucket's notifications to the queue (AWS requires it; LocalStack does not check). Inline, not
  # an aws_sqs_queue_policy: the aws provider waits ~25 s for every change of a queue's attributes to settle (six
  # equal reads, 5 s apart), so a separate policy resource costs another ~25 s on apply and again on destroy.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "BucketNotifications"
      Effect    = "Allow"
      Principal = { Service = "s3.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = "arn:aws:sqs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${var.name}-jobs"
      Condition = { ArnEquals = { "aws:SourceArn" = aws_s3_bucket.uploads.arn } }
    }]
  })
}

resource "aws_s3_bucket_notification" "incoming" {
  bucket = aws_s3_bucket.uploads.id

  queue {
    queue_arn     = aws_sqs_queue.jobs.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "incoming/"
  }
}

# --------------------------------------------------------------------------------- IAM
resource "aws_iam_role" "functions" {
  name = "${var.name}-role"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy" "functions" {
  name = "app"
  role = aws_iam_role.functions.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [for group in aws_cloudwatch_log_group.functions : "${group.arn}:*"]
      },
      {
        Sid      = "Objects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = "${aws_s3_bucket.uploads.arn}/*"
      },
      {
        Sid      = "Queue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
        Resource = aws_sqs_queue.jobs.arn
      },
    ]
  })
}

# ---------------------------------------------------------------------------- functions
# Managed log groups: otherwise Lambda creates them on the first invoke, outside Terraform, and they outlive destroy.
resource "aws_cloudwatch_log_group" "functions" {
  for_each          = local.functions
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = 1
}

resource "aws_lambda_function" "this" {
  for_each = local.functions

  function_name    = "${var.name}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.functions.arn
  runtime          = var.runtime
  handler          = each.value.handler
  filename         = terraform_data.package.output
  source_code_hash = base64sha256(local.content_hash)
  timeout          = 10
  memory_size      = 128

  environment {
    variables = { BUCKET = aws_s3_bucket.uploads.id }
  }

  # Not on the role's policy: creating a function does not need it, and the policy names the queue, whose creation
  # the aws provider waits ~25 s for. Functions and queue are created side by side.
  depends_on = [aws_cloudwatch_log_group.functions]
}

resource "aws_lambda_event_source_mapping" "jobs" {
  event_source_arn = aws_sqs_queue.jobs.arn
  function_name    = aws_lambda_function.this["worker"].arn
  batch_size       = 10
  # A failed record goes back to the queue alone, not the whole batch.
  function_response_types = ["ReportBatchItemFailures"]

  # AWS checks that the function's role may read the queue when the mapping is created.
  depends_on = [aws_iam_role_policy.functions]
}

resource "aws_lambda_function_url" "api" {
  function_name      = aws_lambda_function.this["api"].function_name
  authorization_type = var.url_authorization_type
}
