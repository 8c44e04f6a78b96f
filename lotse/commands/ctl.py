"""``lotse ctl``: talk to a running ``lotse run`` over its Unix control socket.

Exit codes as everywhere: 0 ok, 1 runtime failure (no controller listening,
no permission on the socket, no answer, the controller busy), 2 bad input (an
unknown center, a refused configuration, a bad time).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import yaml
from rich.markup import escape

from cliutil import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    add_config_option,
    default_config_path,
    numbers_from,
)
from cliutil.tables import Column, fit_table, render_plain, terminal_width
from lotse.commands.route import add_call_arguments, render_json
from lotse.control.protocol import MAX_REQUEST_BYTES, RUNTIME_KINDS
from router.config import ControllerSettings

SOCKET_ENV = "LOTSE_CONTROL_SOCKET"
# Where deploy/lotse.service puts it.
SYSTEMD_SOCKET = "/run/lotse/lotse.sock"
# An answer is at most a few hundred centers' status or 100 decisions.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class CtlError(Exception):
    """The controller could not be asked; exit code 1."""


def add_ctl(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse ctl [--socket PATH] [--json] COMMAND``."""
    parser = sub.add_parser(
        "ctl",
        help="control a running controller (status, route, override, reload, callbacks, report)",
        description="Ask or change a running `lotse run` over its Unix control socket. "
        "The socket is only for the controller's user and group (mode 0660).",
    )
    parser.add_argument(
        "--socket",
        metavar="PATH",
        help=f"control socket (default: ${SOCKET_ENV}, controller.control_socket of the "
        f"config, {SYSTEMD_SOCKET} if it exists, else lotse.sock beside the journal)",
    )
    _json_option(parser, argparse.SUPPRESS)
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for an answer"
    )
    add_config_option(parser)
    commands = parser.add_subparsers(dest="ctl_command", metavar="COMMAND", required=True)

    status = commands.add_parser(
        "status",
        help="configuration, AMI, dialplan and every center now",
        description="The configuration in effect (path, sha256, loaded at), the AMI "
        "connection, whether the dialplan was built from the same configuration, and per "
        "center: open now and why, override, callers waiting, agents, expected wait.",
    )

    route = commands.add_parser(
        "route",
        help="the running controller's decision for caller numbers",
        description="Where calls from these numbers would go now, with the live queue "
        "state and the overrides. Places no call and writes no call record.",
    )
    add_call_arguments(route)

    override = commands.add_parser(
        "override",
        help="close or open a center by hand, or return it to its hours",
        description="closed: the center takes no calls now (they spill as off-hours); "
        "open: it stays open outside its hours; auto: back to its opening hours. Takes "
        "effect on the next decision, survives a restart, and is kept in the audit trail "
        "with your uid. The static fallback in the dialplan does not know overrides.",
    )
    override.add_argument("center", help="center id (as in the configuration)")
    override.add_argument("mode", choices=("closed", "open", "auto"))
    override.add_argument(
        "--until", metavar="ISO-TIME", help="end the override by itself at this local time"
    )
    override.add_argument("--reason", default="", help="why (named in every decision)")

    reload = commands.add_parser(
        "reload",
        help="read and check the configuration file again; swap it in if it has no problem",
        description="Like SIGHUP. A file with problems is refused (exit 2, every problem as "
        "FILE:LINE:COL: message) and the old configuration stays in effect; a good one is "
        "swapped in between two decisions, keeping queue state, calls and overrides.",
    )
    callbacks = commands.add_parser(
        "callbacks",
        help="the open callback requests (no numbers)",
        description="Every open callback request, the longest kept place in line first: "
        "id, center, waiting since its queue entry, deadline and time left, attempts, state "
        "(waiting, dialling, or locked: no callback key opens its number), the Ortsnetz "
        "prefix. Never a number.",
    )
    callbacks.add_argument(
        "--cancel",
        metavar="ID",
        help="end this open request as cancelled (kept in the audit trail with your uid)",
    )
    report = commands.add_parser(
        "report",
        help="the daily service report, from the running controller's journal",
        description="What `lotse report` prints for the day (table, --json or --csv), "
        "computed by the running controller on its own journal connection: while `lotse run` "
        "has the journal, no other process may open it. Never a caller number.",
    )
    report.add_argument("--day", required=True, help="local day, YYYY-MM-DD")
    report.add_argument("--csv", action="store_true", help="CSV instead of a table")
    # --json before or after the command: SUPPRESS keeps a later parser from resetting it.
    for command in (status, route, override, reload, callbacks, report):
        _json_option(command, argparse.SUPPRESS)
    parser.set_defaults(func=_run, json=False)


def _json_option(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--json", action="store_true", default=default, help="print the answer as JSON"
    )


def socket_path(args: argparse.Namespace) -> str:
    """The control socket to use: option, environment, configuration, systemd's, default."""
    if args.socket:
        return str(args.socket)
    env = os.environ.get(SOCKET_ENV)
    if env:
        return env
    configured, journal = _from_config(args.config or default_config_path())
    if configured:
        return configured
    if Path(SYSTEMD_SOCKET).exists():
        return SYSTEMD_SOCKET
    return ControllerSettings(journal_path=journal).control_socket_path()


def _from_config(path: Path) -> tuple[str | None, str]:
    """``controller.control_socket`` and ``controller.journal``, read leniently.

    The client must find the socket even when the file has just been broken
    (that is when an operator runs ``lotse ctl reload``).
    """
    default_journal = ControllerSettings().journal_path
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None, default_journal
    controller = data.get("controller") if isinstance(data, dict) else None
    if not isinstance(controller, dict):
        return None, default_journal
    sock, journal = controller.get("control_socket"), controller.get("journal")
    return (
        sock if isinstance(sock, str) and sock else None,
        journal if isinstance(journal, str) and journal else default_journal,
    )


def ask(path: str, request: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """Send one request, return the controller's answer; :class:`CtlError` if it cannot."""
    line = json.dumps(request, ensure_ascii=False).encode() + b"\n"
    if len(line) > MAX_REQUEST_BYTES:
        raise CtlError(f"request longer than {MAX_REQUEST_BYTES} bytes")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise CtlError(f"no controller listening on {path}") from None
        except PermissionError:
            raise CtlError(
                f"{path}: permission denied (the control socket is for the controller's "
                "user and group)"
            ) from None
        except OSError as err:
            raise CtlError(f"{path}: cannot connect: {err.strerror or err}") from None
        try:
            sock.sendall(line)
            answer = _read_line(sock)
        except TimeoutError:
            raise CtlError(f"{path}: no answer within {timeout_s:g} s") from None
        except OSError as err:
            raise CtlError(f"{path}: connection failed: {err.strerror or err}") from None
    try:
        decoded = json.loads(answer)
    except ValueError:
        raise CtlError(f"{path}: the controller's answer is not JSON") from None
    if not isinstance(decoded, dict) or "ok" not in decoded:
        raise CtlError(f"{path}: unexpected answer")
    return decoded


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > MAX_ANSWER_BYTES:
            break
    return b"".join(chunks)


def _request(args: argparse.Namespace) -> dict[str, Any]:
    command = args.ctl_command
    if command == "route":
        return {
            "command": "route",
            "numbers": list(numbers_from(args.numbers)),
            "at": args.at,
            "dialed": args.dialed,
            "postal_code": args.postal_code,
            "visited": args.visited,
        }
    if command == "override":
        return {
            "command": "override",
            "center": args.center,
            "mode": args.mode,
            "until": args.until,
            "reason": args.reason,
        }
    if command == "callbacks" and args.cancel:
        return {"command": "callbacks", "cancel": args.cancel}
    if command == "report":
        # The controller checks the day (bad_request): one rule for every client.
        return {"command": "report", "day": args.day}
    return {"command": command}


def _run(args: argparse.Namespace) -> int:
    if args.ctl_command == "report" and args.json and args.csv:
        print("lotse ctl: report: --json and --csv exclude each other", file=sys.stderr)
        return EXIT_BAD_INPUT
    path = socket_path(args)
    try:
        answer = ask(path, _request(args), args.timeout)
    except CtlError as err:
        print(f"lotse ctl: {err}", file=sys.stderr)
        return EXIT_FAILURE
    if not answer.get("ok"):
        return _report_error(answer, args.json)
    result = answer.get("result") or {}
    for warning in answer.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)
    if args.ctl_command == "report":
        # Imported here: the report's rendering is lotse report's own (one code path).
        from lotse.journal.cli import write_answer

        problem = write_answer(args, result)
        if problem is not None:
            print(f"lotse ctl: {path}: {problem}", file=sys.stderr)
            return EXIT_FAILURE
        return EXIT_OK
    if args.json:
        if args.ctl_command == "route":
            for decision in result.get("decisions", []):
                print(json.dumps(decision, ensure_ascii=False))
        else:
            print(json.dumps(result, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(_render(args.ctl_command, result, terminal_width()))
    return EXIT_OK


def _report_error(answer: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
    print(f"lotse ctl: {answer.get('message', 'error')}", file=sys.stderr)
    for problem in answer.get("problems") or []:
        print(problem, file=sys.stderr)
    return EXIT_FAILURE if answer.get("error") in RUNTIME_KINDS else EXIT_BAD_INPUT


def _render(command: str, result: dict[str, Any], width: int | None = None) -> str:
    if command == "status":
        return render_status(result, width)
    if command == "route":
        return "\n".join(render_json(d) for d in result.get("decisions", []))
    if command == "override":
        return _render_override(result["center"], result.get("override"))
    if command == "callbacks":
        return render_callbacks(result, width)
    return f"reloaded {result['config']} (sha256 {result['config_sha256']})"


# Left out on a narrow terminal, the highest number first (0 never).
_CALLBACK_COLUMNS = (
    Column("id", "left", 0),
    Column("center", "left", 0),
    Column("waiting", priority=1),
    Column("deadline in", priority=0),
    Column("tries", priority=2),
    Column("state", "left", 0),
    Column("prefix", "left", 2),
)
_STATUS_COLUMNS = (
    Column("center", "left", 0),
    Column("open", "left", 0),
    Column("waiting", priority=0),
    Column("agents", priority=1),
    Column("free", priority=1),
    Column("exp.wait", priority=2),
    Column("why / override", "left", 0, wrap=True),
)


def render_callbacks(result: dict[str, Any], width: int | None = None) -> str:
    """``lotse ctl callbacks`` as a table (one line per open request), ``width`` wide."""
    rows = result.get("pending") or []
    lines = []
    if not result.get("enabled"):
        if not rows:
            return "callbacks: not enabled (no center offers one, or $LOTSE_CALLBACK_KEY unset)"
        lines.append("callbacks: no new requests ($LOTSE_CALLBACK_KEY unset); the open ones:")
    if not rows:
        return "no open callback requests"
    cells = [
        [
            r["id"],
            r["center"],
            _duration(r["waiting_s"]),
            _duration(r["deadline_left_s"]),
            str(r["attempts"]),
            r.get("state") or ("dialling" if r["in_flight"] else "waiting"),
            r["ortsnetz_prefix"] or "-",
        ]
        for r in rows
    ]
    lines.append(render_plain(fit_table(_CALLBACK_COLUMNS, cells, width), width).rstrip("\n"))
    locked = sum(1 for r in rows if r.get("locked"))
    if locked:
        lines.append(
            f"{locked} locked: no callback key opens the number; never dialled. Start lotse run "
            "with the key that sealed it in $LOTSE_CALLBACK_KEYS, or cancel it (--cancel ID)."
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds))
    return f"{sign}{total // 3600}h{total % 3600 // 60:02d}m"


def render_status(s: dict[str, Any], width: int | None = None) -> str:
    """``lotse ctl status`` for people; the centers' table ``width`` wide."""
    ami = s["ami"]
    ami_text = "connected" if ami["connected"] else "not connected"
    if ami["stale"]:
        ami_text += ", state stale (routing on the last known state)"
    dialplan = s["dialplan"]
    if dialplan["mismatch"] is None:
        dp_text = "not seen yet (no FastAGI request with a configuration hash)"
    elif dialplan["mismatch"]:
        dp_text = f"built from ANOTHER configuration ({dialplan['config_sha256']}): " + (
            dialplan["hint"] or ""
        )
    else:
        dp_text = "built from this configuration"
    lines = [
        f"config    {s['config']}",
        f"sha256    {s['config_sha256']}",
        f"loaded    {s['loaded_at']}",
        f"AMI       {ami_text}",
        f"dialplan  {dp_text}",
        "",
    ]
    cells = []
    for c in s["centers"]:
        logged = "?" if c["agents_logged_in"] is None else str(c["agents_logged_in"])
        wait = "-" if c["expected_wait_s"] is None else f"{c['expected_wait_s']} s"
        why = c["why"]
        if c["override"] is not None:
            o = c["override"]
            until = f" until {o['until']}" if o["until"] else ""
            why += f" [override {o['mode']}{until}, by uid {o['set_by_uid']}]"
        cells.append(
            [
                c["id"],
                "yes" if c["open"] else "no",
                str(c["waiting"]),
                logged,
                str(c["agents_available"]),
                wait,
                escape(why),
            ]
        )
    lines.append(render_plain(fit_table(_STATUS_COLUMNS, cells, width), width).rstrip("\n"))
    return "\n".join(lines)


def _render_override(center: str, override: dict[str, Any] | None) -> str:
    if override is None:
        return f"{center}: auto (its opening hours, holidays and closure days decide)"
    until = f" until {override['until']}" if override["until"] else ""
    reason = override["reason"] or "no reason given"
    return f"{center}: {override['mode']} by override{until} ({reason})"
