"""Chaos for ``lotse sim load --spawn``: the controller as a process to kill, an AMI link to cut.

With ``--spawn`` the controller runs as its own ``lotse run`` process (on the
stand-in's compressed clock, ``--sim-clock``), so it can be killed like the
real one: ``kill-controller:AT_S:RESTART_AFTER_S`` sends it SIGKILL ``AT_S``
wall seconds into the load and starts it again ``RESTART_AFTER_S`` later;
meanwhile the stand-in routes calls by the static fallback, as Asterisk
would. ``ami-drop:EVERY_S`` puts a TCP proxy between the controller and the
stand-in's AMI and cuts the controller's connection every ``EVERY_S``
seconds (the load's own AMI session is not touched).

The controller's counters start at zero in every process, so the figures the
load reports (decisions, stale decisions, decision latency) are summed as
Prometheus' ``increase()`` does: a value lower than the last one means the
process restarted, and the driver, which restarts it, says so explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from router.config import Endpoint
from sim.spawn import ChildFailed, log_tail

# The counter families the load sums over controller restarts.
DECISIONS_METRIC = "lotse_decisions"
LATENCY_METRIC = "lotse_decision_latency_seconds"
# The per-home service-level counters: the metrics' view in ``lotse sim load --json``'s truth.
HOME_COUNTERS = (
    "lotse_home_calls_offered",
    "lotse_home_calls_answered_within_threshold",
    "lotse_home_calls_short_abandoned",
)
# FastAGI requests by how they ended (ok, malformed, deadline …).
AGI_REQUESTS_METRIC = "lotse_agi_requests"
_SCRAPED = {
    DECISIONS_METRIC,
    LATENCY_METRIC,
    AGI_REQUESTS_METRIC,
    "lotse_ami_resyncs",
    "lotse_reconciles",
    *HOME_COUNTERS,
}
# The journal's lag: ``lotse_journal_lag_seconds`` (a histogram of each
# record's decided-to-written time, or a gauge), else the age of the oldest
# record not yet written. Gauges are kept as a series of samples.
JOURNAL_LAG_METRICS = ("lotse_journal_lag_seconds", "lotse_journal_write_lag_seconds")
_GAUGES = {"lotse_ami_connected", "lotse_state_stale", *JOURNAL_LAG_METRICS}


class ChaosKind(StrEnum):
    """What a ``--chaos`` spec does."""

    KILL_CONTROLLER = "kill-controller"
    AMI_DROP = "ami-drop"


@dataclass(frozen=True, slots=True)
class Chaos:
    """One ``--chaos`` spec: ``kill-controller:AT_S:RESTART_AFTER_S`` or ``ami-drop:EVERY_S``."""

    kind: ChaosKind
    at_s: float = 0.0
    restart_after_s: float = 0.0
    every_s: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Chaos:
        """Read a spec; ``ValueError`` with a message naming the expected shape."""
        name, _, rest = text.partition(":")
        try:
            kind = ChaosKind(name)
        except ValueError:
            known = ", ".join(k.value for k in ChaosKind)
            raise ValueError(f"--chaos {text!r}: unknown kind {name!r} (known: {known})") from None
        shape = (
            "kill-controller:AT_S:RESTART_AFTER_S"
            if kind is ChaosKind.KILL_CONTROLLER
            else "ami-drop:EVERY_S"
        )
        try:
            values = [float(v) for v in rest.split(":")] if rest else []
        except ValueError:
            raise ValueError(f"--chaos {text!r}: expected {shape}") from None
        want = 2 if kind is ChaosKind.KILL_CONTROLLER else 1
        if len(values) != want or not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"--chaos {text!r}: expected {shape} (seconds, not negative)")
        if kind is ChaosKind.KILL_CONTROLLER:
            return cls(kind, at_s=values[0], restart_after_s=values[1])
        if values[0] <= 0:
            raise ValueError(f"--chaos {text!r}: EVERY_S must be positive")
        return cls(kind, every_s=values[0])


Sample = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, timeout: float = 2.0) -> Sample | None:
    """The controller's counters and gauges the load needs, or ``None`` if unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode("utf-8")
    except OSError:
        return None
    found: Sample = {}
    for family in text_string_to_metric_families(text):
        if family.name not in _SCRAPED and family.name not in _GAUGES:
            continue
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


@dataclass
class RestartProofCounters:
    """Counters summed across controller restarts, as Prometheus' ``increase()``."""

    totals: Sample = field(default_factory=dict)
    _last: Sample = field(default_factory=dict)

    def observe(self, sample: Sample) -> None:
        """Fold one scrape in; a value below the last one is a counter reset."""
        for key, value in sample.items():
            if key[0].removesuffix("_total") in _GAUGES or key[0] in _GAUGES:
                continue
            last = self._last.get(key)
            grew = value if last is None or value < last else value - last
            self.totals[key] = self.totals.get(key, 0.0) + grew
            self._last[key] = value

    def baseline(self, sample: Sample) -> None:
        """Count from this scrape on (for a controller that ran before the load)."""
        for key, value in sample.items():
            self._last[key] = value

    def restarted(self) -> None:
        """A new controller process: its counters start over from zero."""
        self._last.clear()

    def total(self, name: str, **labels: str) -> float:
        """The summed value of one series."""
        return self.totals.get((name, tuple(sorted(labels.items()))), 0.0)

    def histogram(self, name: str) -> dict[str, float]:
        """A histogram's summed buckets (by ``le``), ``count`` and ``sum``."""
        out: dict[str, float] = {}
        for (sample, labels), value in self.totals.items():
            if sample == f"{name}_bucket":
                out[dict(labels)["le"]] = value
            elif sample == f"{name}_count":
                out["count"] = value
            elif sample == f"{name}_sum":
                out["sum"] = value
        return out


def _gauge(sample: Sample, name: str) -> float | None:
    return sample.get((name, ()))


def ready(sample: Sample | None) -> bool:
    """Logged in to AMI, resynced, and the reconcile after the last resync done."""
    if sample is None:
        return False
    resyncs = sample.get(("lotse_ami_resyncs_total", ()), 0.0)
    reconciles = sample.get(("lotse_reconciles_total", ()), 0.0)
    return (
        _gauge(sample, "lotse_ami_connected") == 1.0
        and _gauge(sample, "lotse_state_stale") == 0.0
        and resyncs >= 1
        and reconciles >= resyncs
    )


class AmiProxy:
    """A TCP relay from the controller to the stand-in's AMI whose connections can be cut."""

    def __init__(self, target: Endpoint) -> None:
        self._target = target
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.cuts = 0

    async def start(self) -> Endpoint:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return Endpoint(host, port)

    def cut(self) -> None:
        """Drop every relayed connection at once, both ends, as a broken link would."""
        self.cuts += 1
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self._target.host, self._target.port
            )
        except OSError:
            writer.transport.abort()
            return
        self._links.update((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while chunk := await src.read(65536):
            dst.write(chunk)
            await dst.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        dst.transport.abort()


@dataclass
class Sampler:
    """Scrapes a controller's metrics into restart-proof counters."""

    metrics_url: str
    counters: RestartProofCounters = field(default_factory=RestartProofCounters)
    # Each scrape's value of the journal lag gauges, in order.
    gauges: dict[str, list[float]] = field(default_factory=dict)

    def _fold(self, sample: Sample) -> None:
        self.counters.observe(sample)
        for name in JOURNAL_LAG_METRICS:
            value = sample.get((name, ()))
            if value is not None:
                self.gauges.setdefault(name, []).append(value)

    async def sample(self) -> None:
        """Fold the controller's counters in now (if reachable)."""
        sample = await asyncio.to_thread(scrape, self.metrics_url, 1.0)
        if sample is not None:
            self._fold(sample)

    async def run(self, every_s: float = 0.5) -> None:
        """Sample every ``every_s`` until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            await self.sample()


@dataclass
class ControllerProcess(Sampler):
    """``lotse run`` as a child process: start (and wait until ready), SIGKILL, SIGTERM."""

    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path = Path("lotse-run.log")
    # Where lotse run reports the addresses it bound (--ready-file): with port
    # 0 in argv, the first start learns its ports there and every restart
    # binds the same ones again.
    ready_file: Path | None = None
    starts: int = 0
    kills: int = 0
    agi: Endpoint | None = None
    _proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        """A process was started and has not ended."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    async def start(self, timeout_s: float = 30.0, *, wait: bool = True) -> None:
        """Start the process and (``wait``) wait until it is attached, resynced and
        reconciled; :class:`ChildFailed` with its output if it ends or never gets ready."""
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv, env=self.env, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL
            )
        self.starts += 1
        self.counters.restarted()
        if self.ready_file is not None:
            await self._listening(timeout_s)
        if wait:
            await self.wait_ready(timeout_s)

    async def _listening(self, timeout_s: float) -> None:
        """Until the ready file names the bound addresses; argv keeps them for restarts."""
        assert self.ready_file is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.ready_file.exists():
            if not self.running:
                raise self._failed("ended at start")
            if loop.time() > deadline:
                raise self._failed(f"not listening after {timeout_s:g} s")
            await asyncio.sleep(0.05)
        doc = json.loads(self.ready_file.read_text(encoding="utf-8"))
        agi, metrics = str(doc["agi"]), doc.get("metrics")
        self._set_option("--agi-listen", agi)
        host, _, port = agi.rpartition(":")
        self.agi = Endpoint(host, int(port))
        if metrics:
            self._set_option("--metrics-listen", str(metrics))
            self.metrics_url = f"http://{metrics}/metrics"

    def _set_option(self, option: str, value: str) -> None:
        if option in self.argv:
            self.argv[self.argv.index(option) + 1] = value

    def _failed(self, what: str) -> ChildFailed:
        code = self._proc.returncode if self._proc is not None else None
        status = f" (exit {code})" if code is not None else ""
        return ChildFailed(f"lotse run {what}{status}; its output:\n{log_tail(self.log_path)}")

    async def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Until the controller is attached and reconciled; :class:`ChildFailed` otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            if not self.running:
                raise self._failed("ended at start")
            sample = await asyncio.to_thread(scrape, self.metrics_url)
            if sample is not None:
                self.counters.observe(sample)
                if ready(sample):
                    return
            await asyncio.sleep(0.1)
        raise self._failed(f"not ready after {timeout_s:g} s")

    async def sample(self) -> None:
        """Fold the controller's counters in now (if it is up)."""
        if self.running:
            sample = await asyncio.to_thread(scrape, self.metrics_url, 1.0)
            # A scrape that raced a kill must not count the dead process twice.
            if sample is not None and self.running:
                self._fold(sample)

    async def kill(self) -> None:
        """SIGKILL, as the OOM killer or a crash would: nothing is flushed."""
        await self.sample()
        if self._proc is not None and self.running:
            self._proc.send_signal(signal.SIGKILL)
            await self._proc.wait()
            self.kills += 1

    async def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (drain, flush the journal) and wait; SIGKILL if it does not end."""
        await self.sample()
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout_s):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


def lotse_run_argv(
    *,
    config: Path,
    ami: Endpoint,
    agi: Endpoint,
    metrics: Endpoint,
    journal: Path,
    sim_clock: str,
    agi_deadline_ms: int,
    queue_log: Path | None = None,
    ready_file: Path | None = None,
) -> list[str]:
    """The command line of a spawned ``lotse run`` (this interpreter, this lotse).

    ``queue_log``: the stand-in's queue_log, which the controller follows (and
    imports what happened while it was killed); ``None``: the config's.
    """
    follow = ["--queue-log", str(queue_log)] if queue_log is not None else []
    if ready_file is not None:
        follow += ["--ready-file", str(ready_file)]
    return [
        sys.executable,
        "-c",
        "import sys; from lotse.cli import main; sys.exit(main())",
        "run",
        "--config",
        str(config),
        "--ami",
        str(ami),
        "--agi-listen",
        str(agi),
        "--metrics-listen",
        str(metrics),
        "--journal",
        str(journal),
        "--log-level",
        "warning",
        "--sim-clock",
        sim_clock,
        "--agi-deadline-ms",
        str(agi_deadline_ms),
        *follow,
    ]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment (PYTHONPATH, PATH …) plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    return env


async def run_chaos(
    specs: list[Chaos],
    controller: ControllerProcess | None,
    proxy: AmiProxy | None,
    log: Callable[[str], None],
) -> None:
    """Play every spec from now until cancelled."""

    async def kill(spec: Chaos) -> None:
        assert controller is not None
        await asyncio.sleep(spec.at_s)
        log(f"chaos: SIGKILL to the controller at {spec.at_s:g} s")
        await controller.kill()
        await asyncio.sleep(spec.restart_after_s)
        log("chaos: restarting the controller")
        await controller.start()

    async def drop(spec: Chaos) -> None:
        assert proxy is not None
        while True:
            await asyncio.sleep(spec.every_s)
            proxy.cut()

    tasks = []
    for spec in specs:
        tasks.append(
            asyncio.create_task(
                kill(spec) if spec.kind is ChaosKind.KILL_CONTROLLER else drop(spec)
            )
        )
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
