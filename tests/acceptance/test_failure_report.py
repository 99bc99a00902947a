"""A test whose function fails where the test cannot see it (SQS-triggered, at init) still explains itself.

A real pytest run (embedded LocalStack of its own, so its log is readable) deploys a queue feeding a function whose
module does not import (as a python3.12 function without a dependency it needs). The test sends a message and waits
for the function's effect, which never comes. Its report shows the wait's timeout with the function's recent log,
a section per function (the runtime's ``Runtime.ImportModuleError``) and LocalStack's own Lambda lines (the
environment's failed init, the poller giving up on the batch).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import pytest_project

from lambda_url_harness.square.module import REPO_ROOT

pytestmark = pytest.mark.acceptance

BROKEN_MODULE = """
variable "name" {
  type = string
}

resource "terraform_data" "zip" {
  input = "${path.module}/handler.zip"
  provisioner "local-exec" {
    interpreter = ["%(python)s", "-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').write('app.py')"]
    command     = "${path.module}/handler.zip"
  }
}

resource "aws_iam_role" "this" {
  name = "${var.name}-role"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } }]
  })
}

resource "aws_sqs_queue" "this" {
  name = "${var.name}-queue"
}

resource "aws_lambda_function" "this" {
  function_name = var.name
  role          = aws_iam_role.this.arn
  runtime       = "python3.12"
  handler       = "app.handler"
  filename      = terraform_data.zip.output
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn = aws_sqs_queue.this.arn
  function_name    = aws_lambda_function.this.arn
  batch_size       = 1
}

output "queue_url" {
  value = aws_sqs_queue.this.id
}
"""

BROKEN_HANDLER = """
import a_dependency_nobody_packaged


def handler(event, context):
    return {}
"""

FAILING_TEST = """
import pytest


@pytest.mark.localstack_services("sqs")
def test_the_message_is_handled(terraform_deploy, aws_client):
    deployment = terraform_deploy("infra", {"name": "broken-{suffix}"})
    aws_client("sqs").send_message(QueueUrl=deployment.output("queue_url"), MessageBody="work")
    deployment.eventually(lambda: False, timeout_s=20, what="the function's answer to the message")
"""


def test_a_failing_sqs_triggered_function_shows_its_init_error_in_the_report(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "infra").mkdir(parents=True)
    (project / "infra" / "main.tf").write_text(BROKEN_MODULE % {"python": sys.executable})
    (project / "infra" / "app.py").write_text(BROKEN_HANDLER)
    (project / "test_broken.py").write_text(FAILING_TEST)
    environment = pytest_project(project, tmp_path / "state")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--localstack=embedded",
            f"--localstack-python={REPO_ROOT / '.venv-localstack' / 'bin' / 'python'}",
            f"--basetemp={tmp_path / 'basetemp'}",
            "test_broken.py",
        ],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, output[-5000:]
    name = next(word for word in output.split() if word.startswith("broken-") and len(word) == len("broken-123456"))

    # The wait says what it waited for, and quotes the function's log.
    assert "timed out after 20 s waiting for the function's answer to the message" in output
    # A section per function: the runtime's own words about the failed init, as on AWS.
    section = output.split(f" function log {name} (", 1)[1]
    assert "Runtime.ImportModuleError" in section.split(" LocalStack log, Lambda ", 1)[0]
    assert "No module named 'a_dependency_nobody_packaged'" in section
    # LocalStack's Lambda lines for the same time: the environment's init failure and the poller's failed batch.
    localstack_section = output.split(" LocalStack log, Lambda (http://127.0.0.1:", 1)[1]
    assert "init failed" in localstack_section
    assert "sqs_poller" in localstack_section
