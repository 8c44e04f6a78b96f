"""Child processes of ``lotse sim load --spawn``: their logs, memory, and listening sockets.

Every port a spawned process listens on is chosen without a race: either the
process binds port 0 itself and reports what it got (``lotse run
--ready-file``), or this process binds the socket, keeps it listening and
hands it over (``lotse pbx --ami-fd``): nobody else can take the port in
between, as a bind-close-rebind would allow.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

_LOG_TAIL_BYTES = 4000


def entry_argv(*args: str) -> list[str]:
    """A ``lotse`` command line with this interpreter and this lotse."""
    return [sys.executable, "-c", "import sys; from lotse.cli import main; sys.exit(main())", *args]


def log_tail(path: Path, limit: int = _LOG_TAIL_BYTES) -> str:
    """The end of a child's log (what it said before it ended), or a note that it said nothing."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - limit))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no output)"
    text = text.strip()
    if not text:
        return "(no output)"
    if size > limit:
        text = "…" + text[text.find("\n") + 1 :] if "\n" in text else text
    return text


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process in MB (``VmRSS``), ``None`` when gone or unknown."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def cpu_s(pid: int | None) -> float | None:
    """User plus system CPU seconds a process used so far (``/proc/PID/stat``)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def listening_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a free port and listening, inheritable by a child."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class ChildFailed(RuntimeError):
    """A spawned process ended at start or never got ready; the message holds its log."""


@dataclass
class Child:
    """A spawned helper process with its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    pass_fds: tuple[int, ...] = ()
    _proc: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Started and not ended."""
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Start it (its stdout and stderr into the log)."""
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                stdout=log,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=self.pass_fds,
            )

    def failed(self, what: str) -> ChildFailed:
        """The error for an end at start: what happened and the log's end."""
        code = self._proc.returncode if self._proc is not None else None
        status = f" (exit {code})" if code is not None else ""
        return ChildFailed(f"{self.name} {what}{status}; its output:\n{log_tail(self.log_path)}")

    async def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not end."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout_s):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


@dataclass
class MemoryWatch:
    """RSS of the processes of a run, sampled over it: start, middle and end per process."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    # Per process: CPU seconds used between its first and its last reading,
    # summed over its incarnations (a restarted controller is a new pid).
    cpu: dict[str, float] = field(default_factory=dict)
    _last_cpu: dict[str, tuple[int, float]] = field(default_factory=dict)

    def sample(self, pids: dict[str, int | None]) -> None:
        """One RSS and CPU reading of each named process (those not running are skipped)."""
        for name, pid in pids.items():
            value = rss_mb(pid)
            if value is not None:
                self.samples.setdefault(name, []).append(value)
            used = cpu_s(pid)
            if pid is None or used is None:
                continue
            last = self._last_cpu.get(name)
            if last is not None and last[0] == pid:
                self.cpu[name] = self.cpu.get(name, 0.0) + used - last[1]
            self._last_cpu[name] = (pid, used)

    def figures(self) -> dict[str, dict[str, float]]:
        """Per process: ``start``, ``middle``, ``end`` and ``max`` RSS in MB, ``cpu_s``."""
        out = {}
        for name, values in self.samples.items():
            out[name] = {
                "start": values[0],
                "middle": values[len(values) // 2],
                "end": values[-1],
                "max": max(values),
                "cpu_s": round(self.cpu.get(name, 0.0), 2),
            }
        return out
