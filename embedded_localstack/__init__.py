"""Embedded LocalStack: LocalStack as a host process with a Docker-free, local-process Lambda executor.

See docs/embedded-mode.md. launcher/cli run in the harness venv; executor/loopback/localstack_process run
inside .venv-localstack; runtime/bootstrap.py runs inside each function process.
"""
