# Resources and wiring of the module, offline: the aws provider is mocked, terraform_data
# is real (its local-exec really builds the zip into ./builds/).

mock_provider "aws" {
  source = "./tests/mocks"
}

run "defaults" {
  command = apply

  assert {
    condition     = aws_lambda_function.this.function_name == "square"
    error_message = "default function name must be square"
  }
  assert {
    condition     = aws_lambda_function.this.runtime == "python3.11" && aws_lambda_function.this.handler == "lambda_function_square.lambda_handler"
    error_message = "default runtime/handler must be python3.11 / lambda_function_square.lambda_handler"
  }
  assert {
    condition     = aws_lambda_function.this.memory_size == 128 && aws_lambda_function.this.timeout == 10 && aws_lambda_function.this.architectures == tolist(["x86_64"])
    error_message = "default memory 128 MB, timeout 10 s, x86_64"
  }
  assert {
    condition     = aws_lambda_function.this.role == aws_iam_role.this.arn
    error_message = "the function must run with the module's role"
  }
  assert {
    condition     = length(aws_lambda_function.this.environment) == 0
    error_message = "no environment block without environment variables (it would show a perpetual diff)"
  }
  assert {
    condition     = aws_iam_role.this.name == "square-role"
    error_message = "role name must be <function_name>-role"
  }
  assert {
    condition = jsondecode(aws_iam_role.this.assume_role_policy).Statement == [{
      Sid       = "LambdaAssumeRole"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
    error_message = "the role must be assumable by lambda.amazonaws.com only"
  }
  assert {
    condition     = aws_iam_role_policy.logs.role == aws_iam_role.this.id
    error_message = "the log policy must be attached to the function's role"
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.logs.policy).Statement == [{
      Sid      = "WriteOwnLogGroup"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/square:*"
    }]
    error_message = "the role may only create streams and put events in its own log group"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/square" && aws_cloudwatch_log_group.this.retention_in_days == 14
    error_message = "log group /aws/lambda/square with 14 days retention expected"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.kms_key_id == null
    error_message = "no KMS key unless log_kms_key_id is set"
  }
  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "PassThrough" && length(aws_iam_role_policy.xray) == 0
    error_message = "default tracing: PassThrough (Lambda's own default) and no X-Ray policy"
  }
  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == -1 && aws_lambda_function.this.kms_key_arn == null
    error_message = "default: unreserved concurrency, AWS-managed key for environment variables"
  }
  assert {
    condition     = aws_lambda_function_url.this.function_name == aws_lambda_function.this.function_name
    error_message = "the URL must belong to the function"
  }
  assert {
    condition     = aws_lambda_function_url.this.authorization_type == "NONE" && aws_lambda_function_url.this.invoke_mode == "BUFFERED"
    error_message = "default URL: auth NONE, BUFFERED"
  }
  assert {
    condition     = length(aws_lambda_function_url.this.cors) == 0
    error_message = "no CORS block unless cors is set"
  }
  assert {
    condition = length(aws_lambda_permission.public_url) == 1 && (
      aws_lambda_permission.public_url[0].action == "lambda:InvokeFunctionUrl" &&
      aws_lambda_permission.public_url[0].principal == "*" &&
      aws_lambda_permission.public_url[0].function_url_auth_type == "NONE"
    )
    error_message = "a public URL needs a resource policy limited to InvokeFunctionUrl with auth type NONE"
  }
  assert {
    condition     = aws_lambda_function.this.filename == terraform_data.package.output && fileexists(aws_lambda_function.this.filename)
    error_message = "the function's code must be the zip built by terraform_data"
  }
  assert {
    condition     = output.function_url == "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/"
    error_message = "function_url output must be the URL resource's"
  }
  assert {
    condition = (
      output.function_name == "square" &&
      output.function_arn == aws_lambda_function.this.arn &&
      output.invoke_arn == aws_lambda_function.this.invoke_arn &&
      output.role_arn == aws_iam_role.this.arn &&
      output.role_name == "square-role" &&
      output.log_group_name == "/aws/lambda/square" &&
      output.source_code_hash == aws_lambda_function.this.source_code_hash
    )
    error_message = "outputs must expose the created resources"
  }
}

run "custom_settings" {
  command = plan

  variables {
    function_name         = "cube_v2"
    runtime               = "python3.12"
    memory_size           = 256
    timeout               = 30
    architectures         = ["arm64"]
    log_retention_in_days = 3
    log_kms_key_id        = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    environment_variables = { LOG_LEVEL = "DEBUG" }
    tags                  = { team = "platform" }
    authorization_type    = "AWS_IAM"
    invoke_mode           = "RESPONSE_STREAM"
    cors = {
      allow_origins = ["https://example.com"]
      allow_methods = ["POST"]
      max_age       = 300
    }
  }

  assert {
    condition     = aws_lambda_function.this.function_name == "cube_v2" && aws_iam_role.this.name == "cube_v2-role"
    error_message = "names must follow function_name"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/cube_v2" && aws_cloudwatch_log_group.this.retention_in_days == 3
    error_message = "log group must follow function_name and retention"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.kms_key_id == "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "log_kms_key_id must reach the log group"
  }
  assert {
    condition = (
      aws_lambda_function.this.runtime == "python3.12" &&
      aws_lambda_function.this.memory_size == 256 &&
      aws_lambda_function.this.timeout == 30 &&
      aws_lambda_function.this.architectures == tolist(["arm64"])
    )
    error_message = "runtime, memory, timeout and architectures must reach the function"
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables == tomap({ LOG_LEVEL = "DEBUG" })
    error_message = "environment_variables must reach the function"
  }
  assert {
    condition     = aws_lambda_function.this.tags == tomap({ team = "platform" }) && aws_iam_role.this.tags == tomap({ team = "platform" }) && aws_cloudwatch_log_group.this.tags == tomap({ team = "platform" })
    error_message = "tags must reach the function, role and log group"
  }
  assert {
    condition     = aws_lambda_function_url.this.authorization_type == "AWS_IAM" && aws_lambda_function_url.this.invoke_mode == "RESPONSE_STREAM"
    error_message = "authorization_type and invoke_mode must reach the URL"
  }
  assert {
    condition     = length(aws_lambda_permission.public_url) == 0
    error_message = "an AWS_IAM URL must not get the public resource policy"
  }
  assert {
    condition = (
      aws_lambda_function_url.this.cors[0].allow_origins == toset(["https://example.com"]) &&
      aws_lambda_function_url.this.cors[0].allow_methods == toset(["POST"]) &&
      aws_lambda_function_url.this.cors[0].max_age == 300 &&
      aws_lambda_function_url.this.cors[0].allow_credentials == false
    )
    error_message = "cors settings (with defaults for omitted attributes) must reach the URL"
  }
}

run "long_function_name_keeps_role_name_within_64_characters" {
  command = plan

  variables {
    function_name = "a234567890123456789012345678901234567890123456789012345678901234"
  }

  assert {
    condition     = length(aws_iam_role.this.name) == 64 && startswith(aws_iam_role.this.name, "a2345678901234567890")
    error_message = "role name must be cut to IAM's 64 character limit"
  }
}

run "security_opt_ins" {
  command = plan

  variables {
    tracing_mode                   = "Active"
    reserved_concurrent_executions = 5
    environment_kms_key_arn        = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    environment_variables          = { LOG_LEVEL = "DEBUG" }
  }

  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "Active"
    error_message = "tracing_mode must reach the function"
  }
  assert {
    condition = length(aws_iam_role_policy.xray) == 1 && jsondecode(aws_iam_role_policy.xray[0].policy).Statement == [{
      Sid      = "WriteTraces"
      Effect   = "Allow"
      Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      Resource = "*"
    }]
    error_message = "Active tracing adds exactly the two X-Ray write actions (X-Ray has no resource-level permissions)"
  }
  assert {
    condition     = aws_iam_role_policy.xray[0].role == aws_iam_role.this.id
    error_message = "the X-Ray policy must be attached to the function's role"
  }
  assert {
    condition = alltrue([
      for statement in concat(jsondecode(aws_iam_role_policy.logs.policy).Statement, jsondecode(aws_iam_role_policy.xray[0].policy).Statement) :
      alltrue([for action in statement.Action : !strcontains(action, "*")])
    ])
    error_message = "no IAM action may contain a wildcard"
  }
  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == 5
    error_message = "reserved_concurrent_executions must reach the function"
  }
  assert {
    condition     = aws_lambda_function.this.kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "environment_kms_key_arn must reach the function"
  }
}
