"""Who signed a Function URL request: the secret and the identity behind an access key, as LocalStack knows them.

LocalStack checks no signature anywhere, so a secret is "known" in this order:

1. pairs registered with ``EMBEDDED_LAMBDA_URL_CREDENTIALS`` (:mod:`embedded_localstack.settings`);
2. temporary credentials LocalStack's STS issued (``AssumeRole``, also each function's role credentials): the
   request must carry the session token issued with the key, before it expires;
3. access keys LocalStack's IAM created (``CreateAccessKey``) while they are Active;
4. any other key: LocalStack's convention, secret ``test`` (its documented ``test``/``test`` pair), in the account
   LocalStack derives from the key (a 12-digit key is that account, ``test`` is 000000000000).

Identity policies are not evaluated (LocalStack does not enforce IAM): the identity only names the caller's account
and principal ARNs for the function's resource policy. Imported only inside .venv-localstack.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from embedded_localstack.service.sigv4 import SignatureError

log = logging.getLogger(__name__)

CONVENTIONAL_SECRET = "test"  # noqa: S105 - LocalStack's documented dummy secret, not a credential
INVALID_TOKEN = ("UnrecognizedClientException", "The security token included in the request is invalid.")
EXPIRED_TOKEN = ("ExpiredTokenException", "The security token included in the request is expired")


@dataclass(frozen=True)
class Identity:
    """The caller behind an access key: its secret, account and the principal ARNs it answers to."""

    secret: str
    account_id: str
    arns: tuple[str, ...]


def _root(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def _backends(backend_dict: Any) -> Iterator[tuple[str, Any]]:
    """(account id, backend) of every account and partition moto has created, without creating any."""
    for account_id, partitions in list(backend_dict.items()):
        for backend in list(partitions.values()):
            yield account_id, backend


class CredentialStore:
    """Secrets and identities for access keys (see the module docstring for the order)."""

    def __init__(self, registered: Mapping[str, str]) -> None:
        self.registered = dict(registered)

    def identity(self, access_key: str, session_token: str | None, now: datetime) -> Identity:
        """The identity behind ``access_key``; SignatureError when its session token is wrong or expired."""
        if access_key in self.registered:
            return self._conventional(access_key, self.registered[access_key], session_token)
        issued = self._issued_by_sts(access_key, session_token, now)
        if issued is not None:
            return issued
        created = self._created_by_iam(access_key, session_token)
        if created is not None:
            return created
        return self._conventional(access_key, CONVENTIONAL_SECRET, session_token)

    @staticmethod
    def _conventional(access_key: str, secret: str, session_token: str | None) -> Identity:
        if session_token is not None:
            raise SignatureError(*INVALID_TOKEN)  # no session token was issued with this key
        from localstack.aws.accounts import get_account_id_from_access_key_id

        account_id = get_account_id_from_access_key_id(access_key)
        return Identity(secret, account_id, (_root(account_id),))

    @staticmethod
    def _issued_by_sts(access_key: str, session_token: str | None, now: datetime) -> Identity | None:
        from moto.sts.models import sts_backends

        for _, backend in _backends(sts_backends):
            role = backend.get_assumed_role_from_access_key(access_key)
            if role is None:
                continue
            if session_token != role.session_token:
                raise SignatureError(*INVALID_TOKEN)
            if role.expiration.replace(tzinfo=UTC) <= now:
                raise SignatureError(*EXPIRED_TOKEN)
            return Identity(role.secret_access_key, role.account_id, (role.arn, role.role_arn, _root(role.account_id)))
        return None

    @staticmethod
    def _created_by_iam(access_key: str, session_token: str | None) -> Identity | None:
        from moto.iam.models import iam_backends

        for account_id, backend in _backends(iam_backends):
            key = backend.access_keys.get(access_key)
            if key is None or key.user_name is None:
                continue  # temporary keys (no user) are STS's and were looked up there
            if key.status != "Active" or session_token is not None:
                raise SignatureError(*INVALID_TOKEN)
            user = backend.users.get(key.user_name)
            arns = ((user.arn,) if user is not None else ()) + (_root(account_id),)
            return Identity(key.secret_access_key, account_id, arns)
        return None
