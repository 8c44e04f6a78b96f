"""--log-format / controller.log_format: console for a person, JSON for a service."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from lotse.logging import configure_logging
from router.config import LogFormat
from router.configload import ConfigError, load_config
from tests.lotse.rig import REPO


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    configure_logging()


def _emit() -> None:
    structlog.get_logger("t").warning("ami.login_refused", host="127.0.0.1", port=5038)
    logging.getLogger("lotse.journal.store").warning("journal.writable", extra={"path": "j.db"})


@pytest.mark.parametrize("fmt", ["json", "auto"])
def test_json_lines_carry_the_values_as_fields(fmt: str) -> None:
    out = io.StringIO()  # not a terminal: auto is JSON too
    configure_logging(stream=out, log_format=fmt)
    _emit()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["event"], first["host"], first["port"]) == (
        "ami.login_refused",
        "127.0.0.1",
        5038,
    )
    assert (second["event"], second["path"], second["level"]) == (
        "journal.writable",
        "j.db",
        "warning",
    )


@pytest.mark.parametrize(("stream", "fmt"), [(io.StringIO, "console"), (_Terminal, "auto")])
def test_the_console_form_for_a_person(stream: type[io.StringIO], fmt: str) -> None:
    out = stream()
    configure_logging(stream=out, log_format=fmt)
    _emit()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
    assert "ami.login_refused" in lines[0] and "port" in lines[0] and "5038" in lines[0]
    assert "journal.writable" in lines[1] and "j.db" in lines[1]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="want one of auto, console, json"):
        configure_logging(log_format="xml")


def test_the_config_key_takes_the_three_forms_and_names_a_wrong_one(tmp_path: Path) -> None:
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    assert "  log_format: auto\n" in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("  log_format: auto\n", "  log_format: json\n"), "utf-8")
    assert load_config(path).controller.log_format is LogFormat.JSON
    path.write_text(text.replace("  log_format: auto\n", "  log_format: jsn\n"), "utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    (line,) = refused.value.lines()
    row = text.splitlines().index("  log_format: auto") + 1
    assert line.startswith(f"{path}:{row}:") and "log_format" in line and "json" in line
