"""Acceptance harness for the square Lambda module: find or start LocalStack,
drive tflocal through python-terraform, call the Function URL, tear down."""
