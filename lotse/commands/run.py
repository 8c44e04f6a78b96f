"""``lotse run``: attach to Asterisk and route every 115 call."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import structlog

from cliutil import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    BadInput,
    add_config_option,
    load,
    report_bad_input,
)
from lotse.control.operations import Operations
from lotse.control.server import check_control_socket
from lotse.controller import (
    Controller,
    LoginRefusedError,
    RunOptions,
    SecretError,
    StartupError,
    check_listen,
    journal_key,
    open_journal,
    read_secret,
)
from lotse.credentials import load_credentials
from lotse.journal.privacy import JournalKey, JournalKeyError
from lotse.journal.schema import JournalError
from lotse.logging import add_log_format_option, configure_logging
from lotse.simclock import SimClock
from router.config import Config, Endpoint
from router.numbering import OrtsnetzTable

log = structlog.get_logger("lotse.run")


def endpoint(text: str) -> Endpoint:
    """Parse HOST:PORT for argparse."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return Endpoint(host.strip("[]"), int(port))


def endpoint_any_port(text: str) -> Endpoint:
    """HOST:PORT for argparse, where port 0 has the system pick a free one."""
    host, sep, port = text.rpartition(":")
    if sep and host and port == "0":
        return Endpoint(host.strip("[]"), 0)
    return endpoint(text)


def add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse run``."""
    parser = sub.add_parser(
        "run",
        help="run the controller attached to Asterisk",
        description="Attach to Asterisk over AMI, answer FastAGI routing requests, follow the "
        "queues, keep the call journal and serve metrics. The AMI secret comes from the "
        "environment variable or file the config names, never from the command line.",
    )
    add_config_option(parser)
    parser.add_argument("--ami", type=endpoint, help="Asterisk AMI HOST:PORT")
    parser.add_argument("--agi-listen", type=endpoint_any_port, help="FastAGI listen HOST:PORT")
    parser.add_argument(
        "--metrics-listen", type=endpoint_any_port, help="Prometheus metrics HOST:PORT"
    )
    parser.add_argument("--no-metrics", action="store_true", help="serve no metrics")
    parser.add_argument("--journal", help="call journal SQLite file")
    parser.add_argument(
        "--queue-log",
        help="Asterisk's queue_log to follow and import (default: controller.queue_log)",
    )
    parser.add_argument(
        "--control",
        metavar="PATH",
        help="Unix control socket for lotse ctl (default: controller.control_socket, "
        "else lotse.sock beside the journal)",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    add_log_format_option(parser)
    # For lotse sim load --spawn only: the simulated day's compressed clock and
    # a FastAGI deadline that suits a machine shared with the load; not for
    # production, so not in --help.
    parser.add_argument("--sim-clock", type=_sim_clock, help=argparse.SUPPRESS)
    parser.add_argument("--agi-deadline-ms", type=int, help=argparse.SUPPRESS)
    # Also for a parent that starts lotse run on port 0: once listening, the
    # bound addresses are written to this file as JSON (the process keeps the
    # ports; nobody else can take them in between).
    parser.add_argument("--ready-file", help=argparse.SUPPRESS)
    parser.set_defaults(func=_run)


def _sim_clock(text: str) -> SimClock:
    try:
        return SimClock.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _run(args: argparse.Namespace) -> int:
    # Whatever the caller's umask: nothing lotse run creates (the journal and
    # its -wal/-shm, the callback spool) is readable by others (lotse.cli
    # adds 027 for it, as the unit's UMask=0027 does).
    configure_logging(args.log_level, log_format=args.log_format or "auto")
    try:
        table = OrtsnetzTable.load()
        config = load(args, table)
        if args.log_format is None and config.controller.log_format != "auto":
            configure_logging(args.log_level, log_format=config.controller.log_format)
        credentials = load_credentials(config)
        secret = read_secret(config)
        key = journal_key(config)
    except BadInput as err:
        return report_bad_input(err)
    except (SecretError, JournalKeyError) as err:
        return report_bad_input(BadInput(f"lotse run: {err}"))
    if credentials:
        log.info("credentials.loaded", names=credentials)
    if args.agi_deadline_ms is not None:
        config = replace(
            config, controller=replace(config.controller, agi_deadline_ms=args.agi_deadline_ms)
        )
    options = RunOptions.from_config(config)
    options = replace(
        options,
        ami=args.ami or options.ami,
        agi_listen=args.agi_listen or options.agi_listen,
        metrics_listen=None if args.no_metrics else (args.metrics_listen or options.metrics_listen),
        journal_path=args.journal or options.journal_path,
        queue_log=args.queue_log or options.queue_log,
    )
    options = replace(
        options,
        control_socket=args.control
        or config.controller.control_socket_path(args.journal or options.journal_path),
    )
    try:
        return asyncio.run(
            serve(
                config,
                options,
                secret,
                table,
                key,
                sim_clock=args.sim_clock,
                ready_file=args.ready_file,
            )
        )
    except LoginRefusedError as err:
        print(f"lotse run: {err}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except (StartupError, JournalError, OSError) as err:
        # One line on stderr, and by now nothing of lotse is left running:
        # under systemd (Type=notify) a failed start ends at once, not at the
        # start timeout.
        print(f"lotse run: {err}", file=sys.stderr, flush=True)
        return EXIT_FAILURE


async def serve(
    config: Config,
    options: RunOptions,
    secret: str,
    table: OrtsnetzTable,
    key: JournalKey | None = None,
    *,
    sim_clock: SimClock | None = None,
    ready_file: str | None = None,
) -> int:
    """Run until SIGTERM or SIGINT, then drain and flush.

    ``key`` keys the journal's caller hashes (default: the configured one);
    ``sim_clock`` is the wall and queue clock of a simulated day (load tests);
    ``ready_file`` receives the bound addresses once listening (JSON).

    A start that fails (an address in use, an unusable journal) raises with
    everything already started stopped again, the journal's thread included;
    so does an AMI login refused before any succeeded (:class:`LoginRefusedError`).
    """
    # Addresses first: a taken port or control socket fails before the
    # journal is touched, in one line.
    check_listen("FastAGI", options.agi_listen)
    if options.metrics_listen is not None:
        check_listen("metrics", options.metrics_listen)
    if options.control_socket is not None:
        check_control_socket(options.control_socket)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    wall: Callable[[], datetime] = _utc_now
    state: Callable[[], float] | None = None
    if sim_clock is not None:
        wall, state = sim_clock.wall, sim_clock.now
    journal = await open_journal(config, options.journal_path, wall, key)
    try:
        controller = Controller(
            config,
            options,
            secret=secret,
            journal=journal,
            table=table,
            wall_clock=wall,
            state_clock=state,
        )
        # Stored overrides apply from the first decision; SIGHUP reloads the config.
        ops = await Operations.open(
            controller,
            table=table,
            wall_clock=wall,
            socket_path=options.control_socket,
        )
    except BaseException:
        await journal.close()
        raise
    try:
        # The control socket first: one taken by another controller fails the
        # start before this one answers FastAGI.
        await ops.start()
        await controller.start()
    except BaseException:
        await ops.close()
        await journal.close()
        raise
    loop.add_signal_handler(signal.SIGHUP, ops.reload_soon)
    if ready_file is not None:
        _write_ready(ready_file, controller)
    # Everything built so far (config, the numbering plan, compiled routes)
    # lives as long as the process: move it out of the collector's sight so
    # collections during routing do not rescan it.
    gc.collect()
    gc.freeze()
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(controller.failed.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in waits:
        task.cancel()
    await ops.close()
    await controller.stop()
    if controller.failure is not None:
        raise LoginRefusedError(controller.failure)
    return 0


def _write_ready(path: str, controller: Controller) -> None:
    """``{"pid", "agi", "metrics"}`` (``HOST:PORT``, metrics ``null`` if none), replaced
    atomically so a reader never sees half of it."""
    agi_host, agi_port = controller.agi.address
    metrics = controller.metrics_address
    doc = {
        "pid": os.getpid(),
        "agi": f"{agi_host}:{agi_port}",
        "metrics": None if metrics is None else f"{metrics[0]}:{metrics[1]}",
    }
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(doc, out)
    os.replace(tmp, path)


def _utc_now() -> datetime:
    return datetime.now(UTC)
