"""queues_lotse.conf and manager_lotse.conf: content, least privilege, and the event filters
applied to what a real Asterisk 22 sent."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from ami.contract import FALLBACK_USER_EVENT, LIST_EVENTS, NEEDED_EVENTS, NEEDED_VARIABLES_REGEX
from dialplans.build import MANAGER, QUEUES
from dialplans.conf import DialplanError
from dialplans.fallback import USER_EVENT
from dialplans.manager import LOAD_EVENTS, callback_username, load_username, manager_conf
from router.config import ControllerSettings, Endpoint
from tests.dialplans.helpers import build_files, center, demo_config, small_config
from tests.fixtures.asterisk import asterisk_transcript

CONFIG = demo_config()
FILES = build_files(CONFIG)
QUEUES_TEXT = FILES[QUEUES]
MANAGER_TEXT = FILES[MANAGER]
CONTROLLER_USER = CONFIG.controller.ami_username
LOAD_USER = "lotse-load"


def _settings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith(";")]


def test_one_queue_per_center_from_the_template() -> None:
    sections = re.findall(r"^\[([^\]]+)\](\(.*\))?$", QUEUES_TEXT, re.MULTILINE)
    assert sections[0] == ("lotse-queue", "(!)")
    assert {name for name, _ in sections[1:]} == {c.queue for c in CONFIG.centers.values()}
    assert all(parent == "(lotse-queue)" for _, parent in sections[1:])


def test_queue_settings_leave_decisions_to_the_controller() -> None:
    settings = _settings(QUEUES_TEXT)
    for line in (
        "joinempty = yes",
        "leavewhenempty = no",
        "timeoutpriority = app",
        "setinterfacevar = yes",
        "setqueuevar = yes",
        "setqueueentryvar = yes",
        "log-restricted-caller-id = no",
        f"servicelevel = {CONFIG.service_level.threshold_s}",
    ):
        assert line in settings
    # Removed in Asterisk 12; Asterisk 22 warns about them.
    assert "eventwhencalled" not in QUEUES_TEXT.replace("; ", "")
    assert not any(line.startswith(("eventwhencalled", "eventmemberstatus")) for line in settings)
    assert not any(line.startswith("member") for line in settings)


def _section(text: str, name: str) -> list[str]:
    """The setting lines of one ``[name]`` section."""
    found: list[str] = []
    inside = False
    for line in _settings(text):
        if line.startswith("["):
            inside = line == f"[{name}]"
        elif inside:
            found.append(line)
    assert found, name
    return found


def _classes(settings: list[str], key: str) -> set[str]:
    values = [line.split("=", 1)[1] for line in settings if line.startswith(f"{key} =")]
    assert len(values) == 1
    return {v.strip() for v in values[0].split(",")}


def test_manager_user_is_least_privilege() -> None:
    settings = _settings(MANAGER_TEXT)
    assert "[general](+)" in settings and "channelvars = LOTSE_HOME" in settings
    ctl = _section(MANAGER_TEXT, CONTROLLER_USER)
    assert CONTROLLER_USER == CONFIG.controller.ami_username == "lotse"
    # The controller reads queue state and follows calls; it never places one.
    assert _classes(ctl, "write") == {"call", "agent", "reporting"}
    assert "originate" not in _classes(ctl, "write")
    assert _classes(ctl, "read") == {"system", "call", "agent", "dialplan", "user"}
    assert "deny = 0.0.0.0/0.0.0.0" in ctl
    assert "permit = 127.0.0.1/255.255.255.255" in ctl
    assert "#tryinclude manager_lotse_secret.conf" in ctl
    assert not any(line.startswith("secret") for line in settings)


def test_the_load_tester_has_its_own_user_that_may_originate_and_hang_up_only() -> None:
    assert LOAD_USER == load_username(CONFIG) == "lotse-load"
    load = _section(MANAGER_TEXT, LOAD_USER)
    # Originate needs "originate", Hangup "call" (or "system"); nothing else.
    assert _classes(load, "write") == {"originate", "call"}
    assert _classes(load, "read") == {"call", "agent", "dialplan", "user"}
    assert "#tryinclude manager_lotse_load_secret.conf" in load
    assert "deny = 0.0.0.0/0.0.0.0" in load
    names = {
        m[1]
        for line in load
        if (m := re.fullmatch(r"eventfilter\(action\(include\),name\((\w+)\)\) =", line))
    }
    assert names == set(LOAD_EVENTS) - {"VarSet", "UserEvent"}


def test_the_callback_dialer_has_its_own_user_that_may_originate_only() -> None:
    assert callback_username(CONFIG) == "lotse-callback"
    cb = _section(MANAGER_TEXT, "lotse-callback")
    assert _classes(cb, "write") == {"originate"}
    assert _classes(cb, "read") == {"call", "user"}
    assert "#tryinclude manager_lotse_callback_secret.conf" in cb
    assert "deny = 0.0.0.0/0.0.0.0" in cb
    assert "permit = 127.0.0.1/255.255.255.255" in cb
    assert not any(line.startswith("secret") for line in cb)


def test_no_callback_user_without_a_center_that_offers_callbacks() -> None:
    config = small_config(center("a"))
    assert callback_username(config) is None
    text = manager_conf(config, NEEDED_EVENTS, LIST_EVENTS, NEEDED_VARIABLES_REGEX)
    assert "[lotse-callback]" not in text


def test_sim_load_logs_in_as_the_load_user_by_default() -> None:
    from sim.loadcli import default_user

    assert default_user(CONFIG) == LOAD_USER


def test_eventfilters_name_every_needed_event() -> None:
    # The callback dialer's OriginateResponse is its own user's, not the controller's.
    names = set(
        re.findall(r"^eventfilter\(action\(include\),name\((\w+)\)\) =$", MANAGER_TEXT, re.M)
    ) - {"OriginateResponse"}
    # VarSet and UserEvent get narrower filters below.
    assert names == NEEDED_EVENTS - LIST_EVENTS - {"VarSet", "UserEvent"}
    assert (
        "eventfilter(action(include),name(VarSet),header(Variable),method(regex)) = "
        + NEEDED_VARIABLES_REGEX
    ) in MANAGER_TEXT
    assert (
        "eventfilter(action(include),name(UserEvent),header(UserEvent),method(exact)) = "
        "LotseFallback"
    ) in MANAGER_TEXT


def _filters(text: str) -> list[tuple[str | None, str | None, str, str]]:
    """(name, header, method, pattern) of each include filter, as manager.c parses them."""
    found = []
    for line in _settings(text):
        match = re.fullmatch(r"eventfilter\((.*)\) =\s?(.*)", line)
        if match is None:
            continue
        options = dict(re.findall(r"(\w+)\(([^)]*)\)", match[1]))
        assert options.get("action", "include") == "include"
        found.append(
            (options.get("name"), options.get("header"), options.get("method", "none"), match[2])
        )
    return found


def _passes(filters: list[tuple[str | None, str | None, str, str]], event: list[str]) -> bool:
    """should_send_event() with include filters only: any filter matching lets it through."""
    name = event[0].split(": ", 1)[1]
    for f_name, header, method, pattern in filters:
        if f_name is not None and f_name != name:
            continue
        values = [
            line.split(":", 1)[1].strip()
            for line in event
            if header is not None and line.startswith(header + ":")
        ]
        if header is None:
            values = ["\n".join(event)]
        for value in values:
            if method == "none":
                return True
            if method == "exact" and value == pattern:
                return True
            if method == "regex" and re.search(pattern, value):
                return True
    return False


def _events(name: str) -> list[list[str]]:
    events: list[list[str]] = []
    block: list[str] = []
    for line in asterisk_transcript(name).read_text(encoding="utf-8").splitlines():
        if line.startswith("< ") and line[2:]:
            block.append(line[2:])
        elif block:
            if block[0].startswith("Event: "):
                events.append(block)
            block = []
    return events


@pytest.mark.parametrize("capture", ["ami-answered.txt", "ami-agi-down.txt", "ami-timeout.txt"])
def test_filters_keep_what_lotse_needs_from_a_real_call(capture: str) -> None:
    filters = _filters("\n".join(_section(MANAGER_TEXT, CONTROLLER_USER)))
    events = _events(capture)
    kept = [e for e in events if _passes(filters, e)]
    dropped = [e for e in events if not _passes(filters, e)]
    kept_names = {e[0][7:] for e in kept}
    dropped_names = {e[0][7:] for e in dropped}
    seen = {e[0][7:] for e in events}
    assert (seen & (NEEDED_EVENTS - LIST_EVENTS)) <= kept_names
    assert {"Newexten", "Newstate", "DeviceStateChange"} & seen <= dropped_names
    kept_vars = {line[10:] for e in kept for line in e if line.startswith("Variable: ")}
    assert "AGISTATUS" in kept_vars or "QUEUESTATUS" in kept_vars
    assert all(re.search(NEEDED_VARIABLES_REGEX, v) for v in kept_vars)
    assert len(kept) < len(events) / 2


@pytest.mark.parametrize("capture", ["ami-answered.txt", "ami-agi-down.txt", "ami-timeout.txt"])
def test_load_user_filters_keep_what_the_load_follows_from_a_real_call(capture: str) -> None:
    filters = _filters("\n".join(_section(MANAGER_TEXT, LOAD_USER)))
    events = _events(capture)
    kept = {e[0][7:] for e in events if _passes(filters, e)}
    seen = {e[0][7:] for e in events}
    assert seen & {"Newchannel", "Hangup", "QueueCallerJoin", "AgentConnect"} <= kept
    assert "Newexten" in seen and "Newexten" not in kept
    kept_vars = {
        line[10:]
        for e in events
        if _passes(filters, e)
        for line in e
        if line.startswith("Variable: ")
    }
    assert all(re.search(NEEDED_VARIABLES_REGEX, v) for v in kept_vars)


@pytest.mark.parametrize("user", [CONTROLLER_USER, LOAD_USER])
def test_filters_keep_the_fallback_user_event_only(user: str) -> None:
    assert USER_EVENT == FALLBACK_USER_EVENT
    filters = _filters("\n".join(_section(MANAGER_TEXT, user)))
    ours = ["Event: UserEvent", "Channel: PJSIP/carrier-1", "UserEvent: LotseFallback"]
    other = ["Event: UserEvent", "Channel: PJSIP/carrier-1", "UserEvent: Something"]
    assert _passes(filters, ours)
    assert not _passes(filters, other)


def _with_controller(**kwargs: object) -> str:
    config = small_config(center("a"), controller=ControllerSettings(**kwargs))  # type: ignore[arg-type]
    return manager_conf(config, NEEDED_EVENTS, LIST_EVENTS, NEEDED_VARIABLES_REGEX)


def test_permit_follows_where_the_controller_runs() -> None:
    remote = _with_controller(ami=Endpoint("10.0.0.5", 5038), agi_listen=Endpoint("10.0.0.9", 4573))
    assert "permit = 10.0.0.9/255.255.255.255" in _settings(remote)
    unknown = _with_controller(
        ami=Endpoint("pbx.example", 5038), agi_listen=Endpoint("0.0.0.0", 4573)
    )
    assert not any(line.startswith("permit") for line in _settings(unknown))
    assert "deny = 0.0.0.0/0.0.0.0" in _settings(unknown)


@pytest.mark.parametrize("username", ["general", "lotse]x", "a b", "lotse;", ""])
def test_unsafe_ami_user_names_are_refused(username: str) -> None:
    with pytest.raises(DialplanError):
        _with_controller(ami_username=username)


def test_a_non_posix_variable_filter_is_refused() -> None:
    config = small_config(center("a"))
    with pytest.raises(DialplanError):
        manager_conf(config, NEEDED_EVENTS, LIST_EVENTS, r"^LOTSE_\w+$")


def test_secret_is_never_written() -> None:
    config = replace(CONFIG, controller=replace(CONFIG.controller, ami_secret_env="SEKRIT_VAR"))
    text = manager_conf(config, NEEDED_EVENTS, LIST_EVENTS, NEEDED_VARIABLES_REGEX)
    assert "$SEKRIT_VAR" in text
    assert not any(line.startswith("secret") for line in _settings(text))
