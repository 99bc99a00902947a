"""Entry point of the LocalStack process in embedded mode: ``python -m embedded_localstack.localstack_process``.

Equivalent to ``python -m localstack.runtime.main`` after applying the loopback bind fix, AWS's handling of
Function URL bodies (:mod:`embedded_localstack.function_urls`) and the CPU savings of
:mod:`embedded_localstack.speedups`. Runs inside .venv-localstack (started by launcher.py, never imported by
the harness).
"""

from __future__ import annotations

from embedded_localstack.function_urls import pass_function_url_bodies_through
from embedded_localstack.loopback import bind_gateway_to_listen_hosts
from embedded_localstack.speedups import memoize_twisted_content_type_parsing, tuning_enabled


def main() -> None:
    bind_gateway_to_listen_hosts()
    pass_function_url_bodies_through()
    if tuning_enabled():
        memoize_twisted_content_type_parsing()
    from localstack.runtime.main import main as localstack_main

    localstack_main()


if __name__ == "__main__":
    main()
