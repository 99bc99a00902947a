"""Test harness for Terraform modules against LocalStack: find or start LocalStack, drive tflocal through
python-terraform, call Function URLs, tear down; a pytest plugin for any module, and ``make deploy`` for this
repository's square module (:mod:`lambda_url_harness.square`)."""
