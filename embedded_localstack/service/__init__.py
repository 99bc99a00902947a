"""Code that runs inside the embedded LocalStack process (.venv-localstack): executor, sandbox, patches."""
