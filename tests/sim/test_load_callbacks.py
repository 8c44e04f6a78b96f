"""``lotse sim load`` with callbacks: requested, completed, never twice, never ahead of a caller."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lotse.cli import main
from tests.lotse.rig import REPO


def test_callbacks_over_the_wire_keep_the_place_in_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The demo network, offering a callback after 20 s of waiting (90 s in the shipped
    # file) so that a quarter of an hour of Monday's peak yields several.
    config = (REPO / "config.yaml").read_text(encoding="utf-8")
    assert "offer_after_wait_s: 90" in config
    (tmp_path / "config.yaml").write_text(
        config.replace("offer_after_wait_s: 90", "offer_after_wait_s: 20"), encoding="utf-8"
    )
    scenario = (REPO / "sim" / "scenarios" / "monday-peak.yaml").read_text(encoding="utf-8")
    # The shipped scenario names the demo network; this one the changed copy beside it.
    assert "network: demo" in scenario
    scenario = scenario.replace("network: demo", "network: config.yaml")
    # The callees behave like people: some busy, some never pick up, and of
    # those who do, some hang up before the agent and some after.
    scenario += "\ncallbacks: {accept: 1.0, answer: 0.7, busy: 0.5, hangs_up_first: 0.5}\n"
    (tmp_path / "monday-callbacks.yaml").write_text(scenario, encoding="utf-8")
    code = main(
        ["sim", "load", str(tmp_path / "monday-callbacks.yaml"), "--spawn", "--from", "09:00",
         "--hours", "0.25", "--speed", "120", "--seed", "3", "--json"]
    )  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["lost"] == 0
    cb = summary["callbacks"]
    assert cb["offered"] >= cb["requested"] > 0
    assert cb["completed"] > 0
    assert cb["duplicates"] == 0
    assert cb["overtakes"] == 0
    assert cb["expired"] == 0  # read from the journal: a 24 h deadline does not pass here
    # One UserEvent per attempt (the h extension), whatever its outcome; the
    # answered ones ended by the callee or by the agent. (That each outcome comes
    # up is tests/standin/test_callback_legs.py's: this run has only a few attempts.)
    attempts = cb["attempts"]
    assert set(attempts) <= {"answer", "noanswer", "busy"}
    assert attempts.get("answer", 0) == cb["completed"] > 0
    first = cb["hung_up_first"]
    assert first["callee"] + first["agent"] == attempts["answer"]
    # The dialer's legs are no calls: the journal holds exactly the load's calls.
    assert summary["journal"]["other"] == 0
