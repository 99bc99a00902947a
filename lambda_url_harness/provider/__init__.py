"""One aws provider process per working directory that Terraform attaches to (``TF_REATTACH_PROVIDERS``), behind a
gRPC proxy that answers repeated config validations. The rest of the harness uses :mod:`.reuse` alone;
:mod:`.server` starts and stops the pair, :mod:`.proxy` is the proxy process (``python -m
lambda_url_harness.provider.proxy``)."""
