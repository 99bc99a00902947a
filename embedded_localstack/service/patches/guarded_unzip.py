"""Function code is unpacked by the one guarded unzip (:mod:`embedded_localstack.service.code_unpacking`).

LocalStack 4.9.2 unpacks code with ``localstack.utils.archives.unzip``, which writes through symlinks outside the
code directory, and its own checks read what an archive declares (its unzipped-size check parses the whole central
directory; code in S3 is read into memory whole, whatever its size). An unsafe or oversized archive is refused by
CreateFunction/UpdateFunctionCode with ``InvalidParameterValueException`` before LocalStack looks at it (an S3
object over AWS's unzipped limit before it is read), and unpacking goes through :func:`safe_unzip`.
Imported only inside .venv-localstack.
"""

from __future__ import annotations

import logging
import zipfile
from typing import Any

from embedded_localstack.service.code_unpacking import UnsafeArchiveError, check_archive_bytes, safe_unzip
from embedded_localstack.service.limits import MAX_UNZIPPED_CODE_BYTES, UNZIPPED_TOO_LARGE_MESSAGE

log = logging.getLogger(__name__)


def guard_code_unpacking() -> None:
    from localstack import config
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

    store_from_s3 = lambda_service.store_s3_bucket_archive

    def store_sized_s3_archive(archive_bucket: str, archive_key: str, archive_version: Any, **kwargs: Any) -> Any:
        # LocalStack reads the whole object into memory: first its size, which AWS's unzipped limit bounds.
        where = (archive_bucket, archive_key, archive_version)
        size = _object_size(*where) if archive_bucket != config.BUCKET_MARKER_LOCAL else None
        if size is not None and size >= MAX_UNZIPPED_CODE_BYTES:
            log.warning("refused function code s3://%s/%s: %s bytes", archive_bucket, archive_key, size)
            raise InvalidParameterValueException(UNZIPPED_TOO_LARGE_MESSAGE, Type="User")
        return store_from_s3(*where, **kwargs)

    lambda_service.store_s3_bucket_archive = store_sized_s3_archive
    provider.store_s3_bucket_archive = store_sized_s3_archive

    def unzip(path: str, target_dir: str, overwrite: bool = True) -> None:
        safe_unzip(path, target_dir)

    lambda_models.unzip = unzip


def _object_size(bucket: str, key: str, version: str | None) -> int | None:
    """The S3 object's size, or None if it cannot be read (LocalStack's own GetObject then words the error)."""
    from localstack.aws.connect import connect_to

    s3 = connect_to().s3
    versioned = {"VersionId": version} if version else {}
    try:
        return int(s3.head_object(Bucket=bucket, Key=key, **versioned)["ContentLength"])
    except s3.exceptions.ClientError:
        return None
