"""Entry point of the LocalStack process in embedded mode: ``python -m embedded_localstack.service.main``.

Equivalent to ``python -m localstack.runtime.main`` after applying, once, every change the embedded mode makes
inside LocalStack (:mod:`embedded_localstack.service.patches`). Runs inside .venv-localstack (started by
control/lifecycle.py, never imported by the harness).
"""

from __future__ import annotations

from embedded_localstack.service.patches import apply_all


def main() -> None:
    apply_all()
    from localstack.runtime.main import main as localstack_main

    localstack_main()


if __name__ == "__main__":
    main()
