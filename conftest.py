"""What is specific to this repo's square module; everything generic comes from the pytest plugin.

The plugin (:mod:`lambda_url_harness.pytest_plugin`, registered by the package's ``pytest11`` entry point)
provides ``localstack``, ``localstack_endpoint``, ``aws_client`` and the ``terraform_deploy*`` factories, and
the options ``--localstack``, ``--keep-deployments``, ``--terraform-output``, ... (docs/harness.md). Here:
the square module's copy rules and default name (:mod:`lambda_url_harness.square.module`), and one shared
deployment of it.
"""

from __future__ import annotations

from typing import Any

import pytest

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.pytest_plugin import DeployFactory
from lambda_url_harness.square.module import DEFAULT_VARIABLES, REPO_ROOT, SQUARE_MODULE_ITEMS, wait_for_first_200


def _square(factory: DeployFactory) -> DeployFactory:
    def deploy(root: str = ".", variables: dict[str, Any] | None = None, *, apply: bool = True) -> Deployment:
        """The square module (root ``*.tf``, ``lambda/``, ``scripts/``, its examples) applied at ``root``.

        By default the module root gets ``function_name = "square-<suffix>"``.
        """
        if variables is None:
            variables = dict(DEFAULT_VARIABLES) if root == "." else {}
        return factory(REPO_ROOT, variables, root=root, include=SQUARE_MODULE_ITEMS, apply=apply, name="square")

    return deploy


@pytest.fixture(scope="module")
def deploy_module(terraform_deploy_module: DeployFactory) -> DeployFactory:
    """Factory: ``deploy_module(root=".", variables=None, apply=True)``; everything it deployed is destroyed
    when the test module finishes (each apply+destroy costs ~45 s, so modules share them)."""
    return _square(terraform_deploy_module)


@pytest.fixture(scope="session")
def square_deployment(terraform_deploy_session: DeployFactory) -> Deployment:
    """The module with default inputs, applied once per session and answering 200.

    Shared by every test module that only reads (calls the URL, inspects resources, plans):
    each extra apply+destroy would cost ~45 s. Tests that change or destroy a deployment
    use ``deploy_module`` instead.
    """
    deployment = _square(terraform_deploy_session)()
    wait_for_first_200(deployment)
    return deployment
