"""``lotse pbx``: run the Asterisk stand-in until interrupted.

It listens for AMI clients (lotse's controller logs in with the configured
username and the secret from ``controller.ami_secret_env`` /
``ami_secret_file``) and runs every call through the dialplan
``lotse dialplan build`` generates from the configuration (or the files of
``--dialplan DIR``), asking the FastAGI service where its AGI() says.
Calls arrive by AMI ``Originate`` of ``Local/115@lotse-115`` with the
caller's number as ``CallerID`` (``lotse sim load --pbx``), or of
``Local/NUMBER@originate-115``.
Exit codes: 0 after a clean stop (Ctrl-C, SIGTERM), 1 when it cannot run
(address in use), 2 for bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

from cliutil import BadInput, add_config_option, load, os_reason, report_bad_input
from cliutil.logsetup import add_log_format_option, configure_logging
from dialplans.engine import Dialplan, DialplanFileError, load_dialplan
from dialplans.manager import callback_username, load_username
from router.config import Config, Endpoint
from router.numbering import OrtsnetzTable
from standin.amiserver import Framing
from standin.clock import ScaledClock
from standin.emit import EventDetail
from standin.eventfilter import FilterError, generated_manager_conf, parse_manager_conf
from standin.pbx import Pbx
from standin.staffing import Staffing, StaffingError, load_staffing


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse pbx``."""
    parser = sub.add_parser(
        "pbx",
        help="run the Asterisk stand-in (AMI server, FastAGI client, queues)",
        description="Run a stand-in for Asterisk 22 that speaks AMI and FastAGI like the real "
        "one: a queue per center, simulated agents, the 115 dialplan.",
    )
    add_config_option(parser)
    parser.add_argument(
        "--ami-listen",
        metavar="HOST:PORT",
        help="AMI address (default: controller.ami of the config)",
    )
    parser.add_argument(
        "--agi",
        metavar="HOST:PORT",
        help="FastAGI service every AGI() connects to (default: the dialplan's AGI() "
        "address, controller.agi_listen when generated; 'none': AGI() fails and every call "
        "takes the static fallback)",
    )
    staff = parser.add_mutually_exclusive_group()
    staff.add_argument(
        "--agents",
        type=int,
        metavar="N",
        default=None,
        help="N agents logged in to every center's queue (default 2)",
    )
    staff.add_argument("--staffing", type=Path, metavar="FILE", help="staffing file (YAML)")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="time compression: X simulated seconds per real second",
    )
    parser.add_argument(
        "--dialplan",
        type=Path,
        metavar="DIR",
        help="run the dialplan files in DIR (extensions*.conf; default: generate them from "
        "the configuration, as `lotse dialplan build` does)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed")
    add_log_format_option(parser)
    parser.add_argument(
        "--queue-log",
        type=Path,
        metavar="PATH",
        help="write Asterisk's queue_log (file format) to PATH, appending",
    )
    parser.add_argument(
        "--manager-conf",
        metavar="FILE",
        help="take the AMI users' read/write classes and event filters from this manager.conf "
        "('none': every user reads everything unfiltered; default: the manager_lotse.conf "
        "`lotse dialplan build` generates, so clients get what Asterisk would send them)",
    )
    # For lotse sim load --spawn: the AMI socket bound by the parent (which
    # chose its port, so nobody else can take it), and the simulated day's
    # start for the compressed clock.
    parser.add_argument("--ami-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sim-clock", type=_sim_clock, help=argparse.SUPPRESS)
    parser.add_argument(
        "--lean-events",
        action="store_true",
        help="leave out the VarSet/Newexten flood of a real dialplan",
    )
    parser.add_argument(
        "--source-framing",
        action="store_true",
        help="frame AMI as manager.c writes it, without the captures' extra empty lines",
    )
    parser.set_defaults(func=run)


def _sim_clock(text: str) -> tuple[float, float, float]:
    """``EPOCH0,MONO0,SPEED``, as ``lotse run --sim-clock`` reads it."""
    try:
        epoch0, mono0, speed = (float(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not EPOCH0,MONO0,SPEED") from None
    if not speed > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the speed must be positive")
    return epoch0, mono0, speed


def parse_endpoint(text: str, option: str) -> Endpoint:
    """``HOST:PORT`` (``[v6]:PORT``) as an Endpoint; BadInput otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise BadInput(f"{option}: {text!r} is not HOST:PORT")
    return Endpoint(host.strip("[]"), int(port))


def ami_secret(config: Config) -> str:
    """The AMI secret from the environment variable or file the config names."""
    settings = config.controller
    value = os.environ.get(settings.ami_secret_env, "")
    if not value and settings.ami_secret_file:
        try:
            value = Path(settings.ami_secret_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise BadInput(
                f"{settings.ami_secret_file}: cannot read the AMI secret: {err.strerror}"
            ) from None
    if not value:
        raise BadInput(
            f"no AMI secret: set ${settings.ami_secret_env}"
            + (" or fill ami_secret_file" if settings.ami_secret_file else "")
        )
    return value


def run(args: argparse.Namespace) -> int:
    """Entry point of ``lotse pbx``."""
    try:
        table = OrtsnetzTable.load()
        config = load(args, table)
        if not args.speed > 0:
            raise BadInput("--speed must be positive")
        configure_logging(log_format=args.log_format or config.controller.log_format)
        ami = (
            parse_endpoint(args.ami_listen, "--ami-listen")
            if args.ami_listen
            else config.controller.ami
        )
        agi_url: str | bool | None
        if args.agi and args.agi.lower() == "none":
            agi_url = None
        elif args.agi:
            agi_url = f"agi://{parse_endpoint(args.agi, '--agi')}/route"
        else:
            agi_url = True  # where the dialplan's AGI() says (the config's controller)
        if args.staffing:
            staffing = load_staffing(args.staffing, config)
        else:
            staffing = Staffing.uniform(config, 2 if args.agents is None else args.agents)
        secret = ami_secret(config)
        dialplan = load_dialplan(args.dialplan) if args.dialplan else None
        args.manager_text = _manager_text(args.manager_conf, config)
    except DialplanFileError as err:
        return report_bad_input(BadInput(str(err)))
    except StaffingError as err:
        return report_bad_input(BadInput(str(err)))
    except FilterError as err:
        return report_bad_input(BadInput(f"{args.manager_conf}: {err}"))
    except BadInput as err:
        return report_bad_input(err)
    try:
        pbx = _pbx(args, config, staffing, table, secret, ami, agi_url, dialplan)
    except OSError as err:
        print(
            f"lotse pbx: cannot write the queue_log {args.queue_log}: {os_reason(err)}",
            file=sys.stderr,
        )
        return 1
    try:
        sock = None
        if args.ami_fd is not None:
            sock = socket.socket(fileno=args.ami_fd)
        return asyncio.run(_serve(pbx, staffing, sock))
    except OSError as err:
        print(f"lotse pbx: cannot listen for AMI on {ami}: {os_reason(err)}", file=sys.stderr)
        return 1


def _pbx(
    args: argparse.Namespace,
    config: Config,
    staffing: Staffing,
    table: OrtsnetzTable,
    secret: str,
    ami: Endpoint,
    agi_url: str | bool | None,
    dialplan: Dialplan | None,
) -> Pbx:
    return Pbx(
        config,
        staffing=staffing,
        table=table,
        clock=(
            ScaledClock(args.sim_clock[2], args.sim_clock[0], args.sim_clock[1])
            if args.sim_clock is not None
            else ScaledClock(args.speed)
        ),
        seed=args.seed,
        # The controller's user and the load tester's (`lotse sim load`), as generated.
        users={
            config.controller.ami_username: secret,
            load_username(config): secret,
            # The callback dialer's user, when a center offers callbacks.
            **({cb_user: secret} if (cb_user := callback_username(config)) else {}),
        },
        ami_host=ami.host,
        ami_port=ami.port,
        agi_url=agi_url,
        framing=Framing.SOURCE if args.source_framing else Framing.CAPTURE,
        detail=EventDetail.LEAN if args.lean_events else EventDetail.FULL,
        queue_log=args.queue_log,
        dialplan=dialplan,
        manager_conf=args.manager_text,
    )


def _manager_text(option: str | None, config: Config) -> str | None:
    """The manager.conf whose users' classes and filters apply (``None``: none)."""
    if option is not None and option.lower() == "none":
        return None
    if option is None:
        return generated_manager_conf(config)
    try:
        text = Path(option).read_text(encoding="utf-8")
    except OSError as err:
        raise BadInput(f"{option}: cannot read: {os_reason(err)}") from None
    parse_manager_conf(text)  # refuse a filter Asterisk would refuse
    return text


async def _serve(pbx: Pbx, staffing: Staffing, sock: socket.socket | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await pbx.start(sock)
    host, port = pbx.ami_address
    agents = sum(len(specs) for specs in staffing.queues.values())
    agi = pbx.core.settings.agi_url or "none (static fallback)"
    speed = pbx.clock.speed if isinstance(pbx.clock, ScaledClock) else 1.0
    queues = len(pbx.core.queues.by_name)
    print(
        f"lotse pbx: AMI on {host}:{port}, FastAGI {agi}, {queues} queues, "
        f"{agents} agents, speed x{speed:g}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await pbx.close()
    return 0
