"""deploy/lotse.service: hardened, reloadable through lotse ctl, secrets as credentials."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lotse.credentials import credential_names
from router.configload import load_config

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "lotse.service"
# The bar: systemd rates 0 (best) to 10; "OK" ends at 3.9.
MAX_EXPOSURE = 2.5
ANALYZE = shutil.which("systemd-analyze")


def _settings() -> dict[str, list[str]]:
    """Each key of the [Service] section with every value it is given, in order."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze missing (make system-deps)")
def test_systemd_rates_the_unit_at_most_2_5_exposed() -> None:
    assert ANALYZE is not None
    done = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found is not None, done.stdout + done.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout


def test_reload_runs_lotse_ctl_on_the_socket_lotse_run_listens_on() -> None:
    s = _settings()
    (start,) = s["ExecStart"]
    (reload,) = s["ExecReload"]
    control = re.search(r"--control (\S+)", start)
    assert control is not None
    # A refused file makes `lotse ctl reload` exit 2, and so `systemctl reload` fail.
    assert re.fullmatch(rf"\S+/lotse ctl --socket {re.escape(control.group(1))} reload", reload)
    assert control.group(1).startswith("/run/lotse/")


def test_every_secret_lotse_reads_is_loaded_as_a_credential() -> None:
    loaded = {value.partition(":")[0] for value in _settings()["LoadCredential"]}
    assert loaded == set(credential_names(load_config(ROOT / "config.yaml")))


def test_what_lotse_needs_is_kept() -> None:
    s = _settings()
    assert s["StateDirectory"] == ["lotse"] and s["RuntimeDirectory"] == ["lotse"]
    assert s["UMask"] == ["0027"]
    assert set(" ".join(s["RestrictAddressFamilies"]).split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # The journal lives in the state directory systemd makes (ProtectSystem=strict).
    (start,) = s["ExecStart"]
    assert "--journal /var/lib/lotse/" in start
    # The queue_log is read through the documented group.
    assert s["SupplementaryGroups"] == ["asterisk"]
    assert s["RestartPreventExitStatus"] == ["2"]
