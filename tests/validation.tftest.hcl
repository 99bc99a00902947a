# Every input validation rejects bad values at plan time (expect_failures), offline.

mock_provider "aws" {}

run "rejects_function_name_with_space" {
  command = plan

  variables {
    function_name = "my function"
  }

  expect_failures = [var.function_name]
}

run "rejects_function_name_empty" {
  command = plan

  variables {
    function_name = ""
  }

  expect_failures = [var.function_name]
}

run "rejects_function_name_too_long" {
  command = plan

  variables {
    function_name = "a2345678901234567890123456789012345678901234567890123456789012345"
  }

  expect_failures = [var.function_name]
}

run "rejects_runtime_not_python" {
  command = plan

  variables {
    runtime = "nodejs20.x"
  }

  expect_failures = [var.runtime]
}

run "rejects_runtime_python2" {
  command = plan

  variables {
    runtime = "python2.7"
  }

  expect_failures = [var.runtime]
}

run "rejects_handler_without_function" {
  command = plan

  variables {
    handler = "lambda_function_square"
  }

  expect_failures = [var.handler]
}

run "rejects_handler_with_space" {
  command = plan

  variables {
    handler = "lambda function.handler"
  }

  expect_failures = [var.handler]
}

run "rejects_memory_below_128" {
  command = plan

  variables {
    memory_size = 127
  }

  expect_failures = [var.memory_size]
}

run "rejects_memory_above_10240" {
  command = plan

  variables {
    memory_size = 10241
  }

  expect_failures = [var.memory_size]
}

run "rejects_memory_fractional" {
  command = plan

  variables {
    memory_size = 128.5
  }

  expect_failures = [var.memory_size]
}

run "rejects_timeout_zero" {
  command = plan

  variables {
    timeout = 0
  }

  expect_failures = [var.timeout]
}

run "rejects_timeout_above_900" {
  command = plan

  variables {
    timeout = 901
  }

  expect_failures = [var.timeout]
}

run "rejects_environment_key_invalid" {
  command = plan

  variables {
    environment_variables = { "1BAD" = "x" }
  }

  expect_failures = [var.environment_variables]
}

run "rejects_environment_key_reserved" {
  command = plan

  variables {
    environment_variables = { AWS_REGION = "us-east-1" }
  }

  expect_failures = [var.environment_variables]
}

run "rejects_architectures_unknown" {
  command = plan

  variables {
    architectures = ["i386"]
  }

  expect_failures = [var.architectures]
}

run "rejects_architectures_two" {
  command = plan

  variables {
    architectures = ["x86_64", "arm64"]
  }

  expect_failures = [var.architectures]
}

run "rejects_log_retention_unsupported" {
  command = plan

  variables {
    log_retention_in_days = 10
  }

  expect_failures = [var.log_retention_in_days]
}

run "rejects_log_kms_key_not_arn" {
  command = plan

  variables {
    log_kms_key_id = "my-key"
  }

  expect_failures = [var.log_kms_key_id]
}

run "rejects_authorization_type_unknown" {
  command = plan

  variables {
    authorization_type = "COGNITO"
  }

  expect_failures = [var.authorization_type]
}

run "rejects_cors_bad_method" {
  command = plan

  variables {
    cors = { allow_methods = ["FETCH"] }
  }

  expect_failures = [var.cors]
}

run "rejects_cors_max_age_too_long" {
  command = plan

  variables {
    cors = { max_age = 86401 }
  }

  expect_failures = [var.cors]
}

run "rejects_invoke_mode_unknown" {
  command = plan

  variables {
    invoke_mode = "STREAM"
  }

  expect_failures = [var.invoke_mode]
}

run "rejects_python_executable_blank" {
  command = plan

  variables {
    python_executable = "  "
  }

  expect_failures = [var.python_executable]
}

run "rejects_environment_kms_key_not_arn" {
  command = plan

  variables {
    environment_kms_key_arn = "alias/my-key"
  }

  expect_failures = [var.environment_kms_key_arn]
}

run "rejects_reserved_concurrency_below_minus_one" {
  command = plan

  variables {
    reserved_concurrent_executions = -2
  }

  expect_failures = [var.reserved_concurrent_executions]
}

run "rejects_reserved_concurrency_fractional" {
  command = plan

  variables {
    reserved_concurrent_executions = 2.5
  }

  expect_failures = [var.reserved_concurrent_executions]
}

run "rejects_tracing_mode_unknown" {
  command = plan

  variables {
    tracing_mode = "Disabled"
  }

  expect_failures = [var.tracing_mode]
}

run "accepts_boundary_values" {
  command = plan

  variables {
    function_name         = "A-z_0-9"
    memory_size           = 10240
    timeout               = 900
    log_retention_in_days = 0
    architectures         = ["arm64"]
    cors                  = { allow_methods = ["*"], max_age = 86400 }

    reserved_concurrent_executions = 0
  }

  assert {
    condition     = aws_lambda_function.this.memory_size == 10240 && aws_lambda_function.this.timeout == 900
    error_message = "the upper bounds of memory_size and timeout are valid"
  }
}
