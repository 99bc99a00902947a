"""The sandbox's host user setting and the sysctl check before it is used (embedded_localstack/service/sandbox/
hostside.py, mode.py); what the user does to a real function is tested in tests/embedded/test_confinement.py."""

from __future__ import annotations

import pytest

from embedded_localstack.service.sandbox.hostside import DEFAULT_HOST_USER, HOST_USER_VARIABLE, HostUser, host_user
from embedded_localstack.service.sandbox.mode import user_namespaces_problem


def test_the_default_user_and_a_chosen_one():
    assert host_user({}) == HostUser(*DEFAULT_HOST_USER)
    assert host_user({HOST_USER_VARIABLE: " 2000000000:2000000001 "}) == HostUser(2_000_000_000, 2_000_000_001)


@pytest.mark.parametrize("value", ["0:0", "0:5", "5:0", "1000", "a:b", "-1:5", "5:5:5", ":"])
def test_root_and_malformed_users_are_refused(value):
    with pytest.raises(ValueError, match=HOST_USER_VARIABLE):
        host_user({HOST_USER_VARIABLE: value})


def test_setpriv_becomes_the_user_with_nothing_else():
    assert HostUser(7, 8).setpriv() == [
        "setpriv", "--reuid=7", "--regid=8", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
        "--no-new-privs",
    ]  # fmt: skip


def test_user_namespaces_switched_off_are_named(tmp_path):
    limit = tmp_path / "max_user_namespaces"
    limit.write_text("0\n")
    assert "unprivileged user namespaces are off" in user_namespaces_problem(limit)
    limit.write_text("96367\n")
    assert user_namespaces_problem(limit) is None
    assert user_namespaces_problem(tmp_path / "absent") is None
