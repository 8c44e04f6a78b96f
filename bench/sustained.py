"""Benchmark: sustained load on the whole stack, and the controller alone under a lean replay.

1. ``stack``: ``lotse sim load SCENARIO --spawn --rate R --minutes M --json``
   (the stand-in, the controller and the load driver each in its own
   process) and prints, for the run: originated, lost, journal rows against
   originated, journal lag p50/p99/max, decision latency p99, and per process
   RSS at start/middle/end and CPU seconds.
2. ``controller``: ``lotse run`` alone, fed by this process acting as a lean
   Asterisk: an AMI server that sends, per call, the events a real call
   produces (``ami-answered.txt``, Asterisk 22.10.1) as far as the generated
   ``manager_lotse.conf`` lets them reach the controller's user, with fresh
   ids per call, and a FastAGI client that asks for each call's route with
   the environment of ``fastagi-session.txt``. At each rate of ``--rates``
   for ``--step-s`` seconds it prints the controller's CPU ms per call (from
   ``/proc``), its journal lag p99 (``lotse_journal_lag_seconds`` sampled
   every 0.5 s) and whether every request was answered; the highest rate
   held is the last one with lag p99 <= 1 s, every request answered, and
   less than one core used.

Prints figures, asserts nothing; ``--json`` prints one object.

    .venv/bin/python bench/sustained.py stack [--rate 100] [--minutes 3]
    .venv/bin/python bench/sustained.py controller [--rates 50,100,150,200,250,300]
                                                   [--step-s 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import re
import secrets
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ami.codec import AmiParser, Message, encode
from ami.transcript import received_bytes
from bench._common import CAPTURES, percentile
from router.configload import load_config
from router.numbering import OrtsnetzTable
from sim.spawn import cpu_s, entry_argv, rss_mb
from standin.eventfilter import UserPolicy, generated_manager_conf, parse_manager_conf
from standin.wire import AmiEvent, parse_classes

JsonDict = dict[str, Any]
REPO = Path(__file__).resolve().parent.parent
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
# Answers to actions that are lists: the list's closing event.
_LISTS = {"queuestatus": "QueueStatusComplete", "coreshowchannels": "CoreShowChannelsComplete"}
# Action responses and list items in the capture: never sent unasked.
_NOT_EVENTS = {
    "QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete", "CoreShowChannel",
    "CoreShowChannelsComplete", "FullyBooted", "SuccessfulAuth",
}  # fmt: skip
_UNIQUEID = re.compile(rb"\b1795392\d{3}\.(\d+)\b")
_CHANNEL_SEQ = re.compile(rb"-(0000000[0-9a-f])\b")


# --- 1. the whole stack -------------------------------------------------------------


def stack(args: argparse.Namespace) -> JsonDict:
    """One ``lotse sim load --spawn --rate --minutes`` run, its figures."""
    argv = entry_argv(
        "sim", "load", str(args.scenario), "--spawn", "--rate", str(args.rate),
        "--minutes", str(args.minutes), "--from", args.start, "--json",
    )  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    if not done.stdout.strip():
        return {"error": done.stderr.strip()[-2000:], "exit": done.returncode}
    s = json.loads(done.stdout)
    journal = s.get("journal") or {}
    return {
        "rate": args.rate,
        "minutes": args.minutes,
        "exit": done.returncode,
        "originated": s["originated"],
        "lost": s["lost"],
        "journal_calls": journal.get("calls"),
        "journal_missing": journal.get("missing"),
        "journal_lag_p50_s": journal.get("lag_p50_s"),
        "journal_lag_p99_s": journal.get("lag_p99_s"),
        "journal_lag_max_s": journal.get("lag_max_s"),
        "decision_latency_p99_ms": s["decision_latency_p99_ms"],
        "agi_requests": s.get("agi_requests", {}),
        "processes": s.get("rss_mb", {}),
    }


def print_stack(r: JsonDict) -> None:
    """The stack run as lines."""
    if "error" in r:
        print(f"stack: run failed (exit {r['exit']}): {r['error']}")
        return
    print(
        f"stack at {r['rate']:g} calls/s for {r['minutes']:g} min: originated {r['originated']}, "
        f"lost {r['lost']}, journal rows {r['journal_calls']} ({r['journal_missing']} missing)"
    )
    print(
        f"  journal lag p50 {r['journal_lag_p50_s']} s, p99 {r['journal_lag_p99_s']} s, "
        f"max {r['journal_lag_max_s']} s; decision latency p99 <= "
        f"{r['decision_latency_p99_ms']} ms; FastAGI requests {r['agi_requests']}"
    )
    for name, p in r["processes"].items():
        print(
            f"  {name:<10} RSS {p['start']:.0f} / {p['middle']:.0f} / {p['end']:.0f} MB "
            f"(start/middle/end), CPU {p.get('cpu_s', 0):.1f} s"
        )


# --- 2. the controller alone ----------------------------------------------------------


def call_templates() -> dict[str, bytes]:
    """Per AMI user of the generated ``manager_lotse.conf`` (the controller's, its
    callback dialer's): what its filters let through of the captured call's events,
    as wire blocks (ids to fill)."""
    config = load_config(REPO / "config.yaml", table=OrtsnetzTable.load())
    return {
        user: b"".join(call_template(policy))
        for user, policy in parse_manager_conf(generated_manager_conf(config)).items()
    }


def call_template(policy: UserPolicy) -> list[bytes]:
    """The events of the captured call a user with ``policy`` gets, as wire blocks."""
    blocks: list[bytes] = []
    parser = AmiParser()
    for item in parser.feed(received_bytes(CAPTURES / "ami-answered.txt")):
        if not isinstance(item, Message) or not item.get("Event"):
            continue
        name = item.get("Event") or ""
        if name in _NOT_EVENTS or item.get("ActionID"):
            continue
        fields = tuple((k, v) for k, v in item.headers if k not in ("Event", "Privilege"))
        event = AmiEvent(name, parse_classes(item.get("Privilege") or ""), fields)
        if policy.should_send(event):
            blocks.append(encode(item.headers))
    return blocks


class LeanAsterisk:
    """An AMI server for one controller: login, empty lists, then each call's events."""

    def __init__(self) -> None:
        self.writers: list[tuple[asyncio.StreamWriter, bytes]] = []
        self.ready = asyncio.Event()
        self.templates = call_templates()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One manager connection."""
        writer.write(BANNER)
        parser = AmiParser()
        try:
            while data := await reader.read(65536):
                for msg in parser.feed(data):
                    if isinstance(msg, Message):
                        self._answer(msg, writer)
        except ConnectionError:
            pass

    def _answer(self, msg: Message, writer: asyncio.StreamWriter) -> None:
        aid = msg.action_id or ""
        name = (msg.name or "").lower()
        if name == "login":
            writer.write(encode([("Response", "Success"), ("ActionID", aid),
                                 ("Message", "Authentication accepted")]))  # fmt: skip
            writer.write(encode([("Event", "FullyBooted"), ("Privilege", "system,all"),
                                 ("Uptime", "1"), ("LastReload", "1"),
                                 ("Status", "Fully Booted")]))  # fmt: skip
            self.writers.append((writer, self.templates.get(msg.get("Username") or "", b"")))
            self.ready.set()
        elif name in _LISTS:
            writer.write(encode([("Response", "Success"), ("ActionID", aid),
                                 ("EventList", "start"), ("Message", "List follows")]))  # fmt: skip
            writer.write(encode([("Event", _LISTS[name]), ("ActionID", aid),
                                 ("EventList", "Complete"), ("ListItems", "0")]))  # fmt: skip
        elif name == "ping":
            writer.write(encode([("Response", "Success"), ("ActionID", aid), ("Ping", "Pong")]))
        else:
            writer.write(encode([("Response", "Success"), ("ActionID", aid)]))

    def send_call(self, n: int) -> str:
        """Write call ``n``'s events; returns the Uniqueid of its caller channel."""
        epoch = f"{1_700_000_000 + n}".encode()
        for writer, template in self.writers:
            blocks = _UNIQUEID.sub(lambda m: epoch + b"." + m.group(1), template)
            blocks = _CHANNEL_SEQ.sub(
                lambda m: b"-%08x" % ((n * 16 + int(m.group(1), 16)) & 0xFFFFFFFF), blocks
            )
            writer.write(blocks)
        return f"{1_700_000_000 + n}.0"


def agi_env(uniqueid: str, n: int) -> bytes:
    """A res_agi environment for the 115 route request of call ``n``."""
    caller = f"0421{5_000_000 + n % 4_000_000}"
    lines = [
        "agi_network: yes", "agi_network_script: route",
        "agi_request: agi://127.0.0.1/route", f"agi_channel: Local/115@lotse-115-{n:08x};2",
        "agi_language: en", "agi_type: Local", f"agi_uniqueid: {uniqueid}",
        "agi_version: 22.10.1", f"agi_callerid: {caller}", "agi_calleridname: unknown",
        "agi_callingpres: 0", "agi_callingani2: 0", "agi_callington: 0", "agi_callingtns: 0",
        "agi_dnid: 115", "agi_rdnis: unknown", "agi_context: lotse-route", "agi_extension: ask",
        "agi_priority: 10", "agi_enhanced: 0.0", "agi_accountcode: ", "agi_threadid: 1",
        "agi_arg_1: 115", "agi_arg_2: ", "agi_arg_3: ", "agi_arg_4: ",
    ]  # fmt: skip
    return ("\n".join(lines) + "\n\n").encode()


async def agi_call(host: str, port: int, env: bytes) -> bool:
    """One AGI() run as res_agi does it; True when every variable was set."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    ok = True
    try:
        writer.write(env)
        while line := await reader.readline():
            if line.startswith(b"SET VARIABLE"):
                writer.write(b"200 result=1\n")
            elif line.lower().startswith(b"failure"):
                ok = False
    except OSError:
        ok = False
    finally:
        writer.close()
    return ok


def scrape_gauge(url: str, name: str) -> float | None:
    """One gauge's value from a metrics page."""
    try:
        with urllib.request.urlopen(url, timeout=2) as page:
            text = page.read().decode()
    except OSError:
        return None
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else None


async def controller(args: argparse.Namespace) -> JsonDict:
    """Step the rate up until the controller no longer holds it."""
    peer = LeanAsterisk()
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    ami_port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="lotse-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        ready = tmp / "ready.json"
        env = {
            **os.environ,
            "LOTSE_AMI_SECRET": "bench",
            "LOTSE_JOURNAL_KEY": secrets.token_hex(32),
            "LOTSE_CALLBACK_KEY": secrets.token_hex(32),
        }
        argv = entry_argv(
            "run", "--config", str(REPO / "config.yaml"), "--ami", f"127.0.0.1:{ami_port}",
            "--agi-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
            "--journal", str(tmp / "journal.sqlite"), "--queue-log", str(tmp / "none"),
            "--log-level", "warning", "--ready-file", str(ready),
        )  # fmt: skip
        with (tmp / "run.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=log, stderr=log)
        try:
            while not ready.exists():
                if proc.returncode is not None:
                    return {"error": (tmp / "run.log").read_text()[-2000:]}
                await asyncio.sleep(0.05)
            doc = json.loads(ready.read_text())
            host, _, port = doc["agi"].rpartition(":")
            metrics = f"http://{doc['metrics']}/metrics"
            await asyncio.wait_for(peer.ready.wait(), 30)
            await asyncio.sleep(2)  # resync and reconcile
            steps = []
            counter = itertools.count()
            for rate in args.rates:
                step = await _step(
                    peer, host, int(port), metrics, proc.pid, rate, args.step_s, counter
                )
                steps.append(step)
                if not step["held"]:
                    break
        finally:
            proc.terminate()
            await proc.wait()
            server.close()
    held = [s["rate"] for s in steps if s["held"]]
    return {"steps": steps, "highest_rate_held": max(held) if held else None}


async def _step(
    peer: LeanAsterisk, host: str, port: int, metrics: str, pid: int, rate: float,
    seconds: float, counter: itertools.count[int],
) -> JsonDict:  # fmt: skip
    loop = asyncio.get_running_loop()
    cpu0, rss0, t0 = cpu_s(pid) or 0.0, rss_mb(pid), loop.time()
    lags: list[float] = []
    tasks: set[asyncio.Task[bool]] = set()
    results: list[bool] = []

    async def sample() -> None:
        while True:
            await asyncio.sleep(0.5)
            value = await asyncio.to_thread(scrape_gauge, metrics, "lotse_journal_lag_seconds")
            if value is not None:
                lags.append(value)

    async def one(n: int) -> bool:
        uniqueid = f"{1_700_000_000 + n}.0"
        ok = await agi_call(host, port, agi_env(uniqueid, n))
        peer.send_call(n)
        return ok

    def done(task: asyncio.Task[bool]) -> None:
        tasks.discard(task)
        results.append(not task.cancelled() and task.exception() is None and task.result())

    sampler = asyncio.create_task(sample())
    calls = int(rate * seconds)
    for i in range(calls):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(next(counter)))
        tasks.add(task)
        task.add_done_callback(done)
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    await asyncio.sleep(1.0)
    sampler.cancel()
    elapsed = loop.time() - t0
    cpu = (cpu_s(pid) or 0.0) - cpu0
    lags.sort()
    lag_p99 = percentile(lags, 99) if lags else math.nan
    answered = sum(results)
    cores = cpu / elapsed
    return {
        "rate": rate,
        "calls": calls,
        "answered": answered,
        "cpu_ms_per_call": round(cpu * 1000 / max(calls, 1), 2),
        "cores": round(cores, 2),
        "journal_lag_p99_s": round(lag_p99, 3),
        "rss_mb": rss_mb(pid),
        "rss_start_mb": rss0,
        "held": answered == calls and lag_p99 <= 1.0 and cores < 1.0,
    }


def print_controller(r: JsonDict) -> None:
    """The steps as lines."""
    if "error" in r:
        print(f"controller: lotse run failed: {r['error']}")
        return
    for s in r["steps"]:
        print(
            f"controller at {s['rate']:g} calls/s: {s['answered']}/{s['calls']} answered, "
            f"{s['cpu_ms_per_call']} ms CPU/call ({s['cores']} cores), journal lag p99 "
            f"{s['journal_lag_p99_s']} s, RSS {s['rss_mb']} MB -> "
            f"{'held' if s['held'] else 'not held'}"
        )
    print(f"highest rate one controller core held: {r['highest_rate_held']} calls/s")


def main() -> int:
    """Run the chosen part(s) and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    s = sub.add_parser("stack")
    s.add_argument("--scenario", type=Path, default=REPO / "sim/scenarios/normal-day.yaml")
    s.add_argument("--rate", type=float, default=100.0)
    s.add_argument("--minutes", type=float, default=3.0)
    s.add_argument("--from", dest="start", default="10:00")
    s.add_argument("--json", action="store_true")
    c = sub.add_parser("controller")
    c.add_argument(
        "--rates", type=lambda t: [float(x) for x in t.split(",")],
        default=[50.0, 100.0, 150.0, 200.0, 250.0, 300.0, 400.0],
    )  # fmt: skip
    c.add_argument("--step-s", type=float, default=20.0)
    c.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.part == "stack":
        result = stack(args)
        print(json.dumps(result)) if args.json else print_stack(result)
    else:
        result = asyncio.run(controller(args))
        print(json.dumps(result)) if args.json else print_controller(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
