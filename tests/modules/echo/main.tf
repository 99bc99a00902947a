# A tiny second module for the harness's own tests: a Lambda that echoes the request behind a Function URL.
# It shares nothing with the square module; tests reach it only through the pytest plugin's fixtures.

terraform {
  required_version = ">= 1.7"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "name" {
  description = "Name of the function and prefix of its role."
  type        = string
}

variable "greeting" {
  description = "Returned in every answer (proves variables reach the function)."
  type        = string
  default     = "hello"
}

variable "python_executable" {
  description = "Python used to zip the handler at apply time."
  type        = string
  default     = "python3"
}

locals {
  source_file = "${path.module}/src/echo.py"
  source_hash = filesha256(local.source_file)
  zip_path    = "${path.module}/builds/echo-${local.source_hash}.zip"
}

# Zipped with Terraform built-ins and Python (no hashicorp/archive needed).
resource "terraform_data" "zip" {
  triggers_replace = local.source_hash
  input            = local.zip_path

  provisioner "local-exec" {
    interpreter = [
      var.python_executable, "-c",
      "import pathlib, sys, zipfile; out = pathlib.Path(sys.argv[2]); out.parent.mkdir(parents=True, exist_ok=True); zipfile.ZipFile(out, 'w').write(sys.argv[1], 'echo.py')",
      local.source_file,
    ]
    command = local.zip_path
  }
}

resource "aws_iam_role" "this" {
  name = "${var.name}-role"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } }]
  })
}

resource "aws_lambda_function" "this" {
  function_name    = var.name
  role             = aws_iam_role.this.arn
  runtime          = "python3.11"
  handler          = "echo.handler"
  filename         = terraform_data.zip.output
  source_code_hash = base64sha256(local.source_hash)
  timeout          = 10
  environment {
    variables = { GREETING = var.greeting }
  }
}

resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  authorization_type = "NONE"
}

output "function_name" {
  value = aws_lambda_function.this.function_name
}

output "role_name" {
  value = aws_iam_role.this.name
}

output "url" {
  value = aws_lambda_function_url.this.function_url
}
