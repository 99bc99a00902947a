"""Function code is unpacked by the one guarded unzip (:mod:`embedded_localstack.service.code_unpacking`).

LocalStack 4.9.2 unpacks code with ``localstack.utils.archives.unzip``, which writes through symlinks outside the
code directory, and its own checks read what an archive declares (its unzipped-size check parses the whole central
directory). An unsafe or oversized archive is refused by CreateFunction/UpdateFunctionCode with
``InvalidParameterValueException`` before LocalStack looks at it, and unpacking goes through :func:`safe_unzip`.
Imported only inside .venv-localstack.
"""

from __future__ import annotations

import logging
import zipfile
from typing import Any

from embedded_localstack.service.code_unpacking import UnsafeArchiveError, check_archive_bytes, safe_unzip

log = logging.getLogger(__name__)


def guard_code_unpacking() -> None:
    from localstack.aws.api.lambda_ import InvalidParameterValueException
    from localstack.services.lambda_ import provider
    from localstack.services.lambda_.invocation import lambda_models, lambda_service

    store = lambda_service.store_lambda_archive
    if getattr(store, "checked", False):
        return

    def store_checked_archive(archive_file: bytes, *args: Any, **kwargs: Any) -> Any:
        try:
            check_archive_bytes(archive_file)
        except UnsafeArchiveError as error:
            log.warning("refused function code: %s", error)
            raise InvalidParameterValueException(error.message, Type="User") from error
        except (zipfile.BadZipFile, OSError, ValueError) as error:  # not a zip: LocalStack's own check words it
            log.debug("archive not checked: %s", error)
        return store(archive_file, *args, **kwargs)

    store_checked_archive.checked = True  # type: ignore[attr-defined]
    lambda_service.store_lambda_archive = store_checked_archive
    provider.store_lambda_archive = store_checked_archive

    def unzip(path: str, target_dir: str, overwrite: bool = True) -> None:
        safe_unzip(path, target_dir)

    lambda_models.unzip = unzip
