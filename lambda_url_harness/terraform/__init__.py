"""Terraform through tflocal: the bounded subprocess runner, tflocal's command lines, the state reader and the
offline CLI config. Nothing here imports more than the standard library at package level (the Makefile runs
``python -m lambda_url_harness.terraform.tfconfig`` before any virtualenv exists)."""
