"""The one reader of terraform.tfstate: what a destroy has to do, what it still lists, the outputs."""

from __future__ import annotations

import json
from pathlib import Path

from lambda_url_harness.terraform.state import STATE_FILE, TerraformState

STATE = {
    "version": 4,
    "outputs": {"function_url": {"value": "http://x/", "type": "string"}},
    "resources": [
        {"mode": "managed", "type": "aws_iam_role", "name": "this", "module": "module.square"},
        {"mode": "data", "type": "aws_iam_policy_document", "name": "trust"},
        {"mode": "managed", "type": "aws_cloudwatch_log_group", "name": "this"},
    ],
}


def test_no_state_file_means_nothing_to_destroy(tmp_path: Path) -> None:
    state = TerraformState.read(tmp_path)
    assert (state.present, state.has_resources, state.outputs, state.addresses()) == (False, False, None, [])


def test_the_managed_resources_and_the_outputs_are_read(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps(STATE))
    state = TerraformState.read(tmp_path)
    assert state.has_resources
    assert state.addresses() == ["module.square.aws_iam_role.this", "aws_cloudwatch_log_group.this"]
    assert state.outputs == {"function_url": "http://x/"}


def test_outputs_only_from_the_format_it_knows(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps(STATE | {"version": 3}))
    assert TerraformState.read(tmp_path).outputs is None


def test_a_half_written_state_is_left_to_terraform(tmp_path: Path) -> None:
    """A state a killed Terraform left unreadable may still list resources: a destroy is not skipped."""
    (tmp_path / STATE_FILE).write_text('{"version": 4, "resources": [{"mode": "man')
    state = TerraformState.read(tmp_path)
    assert (state.present, state.readable, state.has_resources) == (True, False, True)
    assert state.addresses() == []
