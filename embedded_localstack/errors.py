"""The one base exception of the embedded LocalStack's host side and shared modules.

Every error of :mod:`embedded_localstack.control` and of the top-level modules derives from
:class:`EmbeddedLocalStackError` and carries a message written for the user (what failed, why, what to do), so a
caller catches the one type. Standard library only.
"""

from __future__ import annotations


class EmbeddedLocalStackError(RuntimeError):
    """The embedded LocalStack could not be started, stopped, provisioned or given its runtimes; the message says
    why and where to look. Raised as such for start and stop; subclasses name the other steps."""
