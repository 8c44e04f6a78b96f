"""Secrets as systemd credentials: read from $CREDENTIALS_DIRECTORY, winning over the variable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cliutil import BadInput
from lotse.controller import journal_key, read_secret
from lotse.credentials import credential_names, load_credentials
from lotse.journal.callbackkeys import key_ring
from router.configload import load_config
from tests.lotse.rig import REPO

CONFIG = load_config(REPO / "config.yaml")


def _dir(tmp_path: Path, **secrets: str) -> Path:
    for name, value in secrets.items():
        (tmp_path / name.replace("_", "-")).write_text(value + "\n", encoding="utf-8")
    return tmp_path


def test_each_credential_stands_for_the_variable_lotse_reads(tmp_path: Path) -> None:
    directory = _dir(
        tmp_path,
        ami_secret="from-credential",
        journal_key="j" * 32,
        callback_key="c" * 32,
        callback_keys="o" * 32 + "\n" + "p" * 32,
        callback_ami_secret="cb-secret",
    )
    env = {"CREDENTIALS_DIRECTORY": str(directory), "LOTSE_AMI_SECRET": "from-environment"}
    loaded = load_credentials(CONFIG, env)
    assert sorted(loaded) == [
        "ami-secret",
        "callback-ami-secret",
        "callback-key",
        "callback-keys",
        "journal-key",
    ]
    # The credential wins over the variable; the readers see it the one way.
    assert read_secret(CONFIG, env) == "from-credential"
    assert journal_key(CONFIG, env).secret == ("j" * 32).encode()
    assert env["LOTSE_CALLBACK_KEY"] == "c" * 32
    # Older keys one per line, as the ring reads them.
    ring, problems = key_ring(env)
    assert ring.can_seal and len(ring.older) == 2 and problems == []
    assert env["LOTSE_CALLBACK_AMI_SECRET"] == "cb-secret"


def test_without_credentials_the_environment_and_files_still_work(tmp_path: Path) -> None:
    env = {"LOTSE_AMI_SECRET": "from-environment"}
    assert load_credentials(CONFIG, env) == []
    assert read_secret(CONFIG, env) == "from-environment"
    # An empty credential (a secret the site does not use) counts as absent.
    env["CREDENTIALS_DIRECTORY"] = str(_dir(tmp_path, ami_secret=""))
    assert load_credentials(CONFIG, env) == []
    assert read_secret(CONFIG, env) == "from-environment"


def test_a_variable_turned_off_in_the_config_has_no_credential() -> None:
    config = replace(CONFIG, controller=replace(CONFIG.controller, ami_secret_env=""))
    assert "ami-secret" not in credential_names(config)
    assert credential_names(CONFIG)["ami-secret"] == "LOTSE_AMI_SECRET"


def test_an_unreadable_credential_is_bad_input_naming_it_not_its_value(tmp_path: Path) -> None:
    (tmp_path / "ami-secret").mkdir()  # a directory: EISDIR on read
    with pytest.raises(BadInput, match=r"credential ami-secret \(.*ami-secret\): cannot read"):
        load_credentials(CONFIG, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
