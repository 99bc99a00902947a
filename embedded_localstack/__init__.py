"""Embedded LocalStack: LocalStack as a host process with a Docker-free, sandboxed Lambda executor.

Split by where the code runs (docs/embedded-mode.md):

* :mod:`.control` - the host side, in the harness's venv: start, find and stop LocalStack, provision its venv.
* :mod:`.service` - inside the LocalStack process (.venv-localstack): the Lambda executor, the function sandbox,
  and :mod:`.service.patches` (one module per changed LocalStack behaviour).
* :mod:`.runtime` - inside each function process: the runtime loop (standard library only).
* :mod:`.paths`, :mod:`.settings`, :mod:`.runtime_packages` - shared by all (standard library only).
"""
