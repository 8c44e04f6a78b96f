"""Load ``config.yaml`` once into the typed :class:`router.config.Config`.

A configuration decides where citizens' calls go, so a doubtful one is refused
whole: every problem is collected and reported as ``FILE:LINE:COL: message``
(the position of the most precise YAML node), and nothing is built until the
file is clean. Besides types and ranges the loader checks what only the whole
network shows (``router.configcenters``): an Ortsnetz or postal code claimed by
two centers, partners that do not exist, and partner chains that could bounce
a call back to a center it came from. The file format is documented in the
shipped ``config.yaml``.
"""

from __future__ import annotations

import hashlib
import re
import sys
import zoneinfo
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from yaml.nodes import MappingNode, Node, ScalarNode

from router.config import (
    CALLBACK_DIAL_NUMBER,
    DEFAULT_CALLBACK_DIAL,
    Config,
    ControllerSettings,
    Endpoint,
    LogFormat,
    ServiceLevel,
    UnconnectedMode,
    UnknownOrigin,
    UnknownOriginMode,
)
from router.configcenters import CenterReader, read_sound
from router.confignodes import (
    NULL,
    ConfigError,
    NodeReader,
    Problem,
    compose,
    decode_text,
    did_you_mean,
)
from router.configvalues import ENV_NAME, parse_endpoint
from router.numbering import OrtsnetzTable

__all__ = [
    "MAX_CONFIG_BYTES",
    "ConfigError",
    "Problem",
    "check_main",
    "load_config",
    "load_config_text",
    "summary",
]

# A national network (every Ortsnetz and postal code listed) stays far below;
# composing YAML costs some seconds per MiB, so this bounds a check's work.
MAX_CONFIG_BYTES = 1024 * 1024
_EMPTY = "empty configuration; expected at least the keys 'centers' and 'fallback_center'"
_TOP_OPTIONAL = (
    "timezone",
    "unconnected",
    "unconnected_announcement",
    "all_busy_announcement",
    "max_hops",
    "unknown_origin",
    "service_level",
    "controller",
    "callback_dial",
)
# A Dial() resource: TECH/resource with ${CB_DIAL} once, nothing that would
# end the argument (, | ) or start another substitution ($ { } [ ]).
# The number may be cut (${CB_DIAL:1}: without its leading 0, for a carrier
# that wants 0049… or +49…).
_DIAL_TECH = re.compile(r"[A-Za-z][A-Za-z0-9_]*/", re.ASCII)
_DIAL_NUMBER = re.compile(r"\$\{CB_DIAL(?::[0-9]{1,2})?\}", re.ASCII)
_DIAL_REST = re.compile(r"[A-Za-z0-9_.:@/+#*=-]*", re.ASCII)


def load_config(path: str | Path, *, table: OrtsnetzTable | None = None) -> Config:
    """Load and validate the configuration file at ``path``.

    Raises :class:`ConfigError` listing every problem, or ``OSError`` if the
    file cannot be read. ``table`` is the national Ortsnetz table (loaded from
    the package when not given) that every configured Ortsnetz must be in.
    """
    with Path(path).open("rb") as file:
        return load_config_stream(file, str(path), table=table)


def load_config_stream(
    file: BinaryIO, source: str, *, table: OrtsnetzTable | None = None
) -> Config:
    """:func:`load_config` of an open binary stream (standard input), named ``source``."""
    # Read no more than the limit (and a byte to notice): a runaway file
    # costs neither the memory nor the minutes its YAML would.
    data = file.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            [
                Problem(
                    source,
                    1,
                    1,
                    f"larger than {MAX_CONFIG_BYTES // 1024} KiB, the limit for a configuration "
                    "(the shipped one is some 13 KiB): is this the right file?",
                )
            ]
        )
    config = load_config_text(decode_text(data, source), source, table)
    return replace(config, sha256=hashlib.sha256(data).hexdigest())


def load_config_text(
    text: str, source: str = "<string>", table: OrtsnetzTable | None = None
) -> Config:
    """Load and validate a configuration given as YAML text; ``source`` names it in problems."""
    root = compose(text, source)
    reader = NodeReader(source)
    if root is None:
        raise ConfigError([Problem(source, 1, 1, _EMPTY)])
    loader = _Loader(reader, table if table is not None else OrtsnetzTable.load())
    config = loader.config(root, source)
    if reader.problems:
        raise ConfigError(reader.sorted_problems())
    return config


def summary(config: Config) -> str:
    """One line about a loaded configuration, as ``lotse check`` prints it."""
    centers = len(config.centers)
    nets = len(config.center_by_ortsnetz)
    return (
        f"{config.source}: {centers} center{'' if centers == 1 else 's'}, "
        f"{nets} Ortsnetz{'' if nets == 1 else 'e'}, fallback {config.fallback_center}, "
        f"time zone {config.timezone}"
    )


def check_main(path: str | Path) -> int:
    """``lotse check``: print every problem to stderr (exit 2) or the summary (exit 0)."""
    try:
        config = load_config(path)
    except ConfigError as err:
        for line in err.lines():
            print(line, file=sys.stderr)
        return 2
    except OSError as err:
        print(f"{path}: cannot read configuration: {err.strerror or err}", file=sys.stderr)
        return 2
    print(summary(config))
    return 0


class _Loader:
    """Reads the global sections; the centers are left to :class:`CenterReader`."""

    def __init__(self, reader: NodeReader, table: OrtsnetzTable) -> None:
        self.r = reader
        self.centers = CenterReader(reader, table)

    def config(self, root: Node, source: str) -> Config:
        if not isinstance(root, MappingNode):
            self.r.report(
                root,
                "the configuration must be a mapping of keys such as "
                "'centers' and 'fallback_center'",
            )
            return Config(centers={}, fallback_center="", source=source)
        f = self.r.fields(root, "", required=("centers", "fallback_center"), optional=_TOP_OPTIONAL)
        d = Config(centers={}, fallback_center="")
        centers = self.centers.centers(f.get("centers"))
        fallback = self.r.string(f.get("fallback_center"), "fallback_center", "")
        if fallback and "fallback_center" in f and fallback not in self.centers.ids:
            self.centers.unknown_center(f["fallback_center"], "fallback_center", fallback)
        return Config(
            centers=centers,
            fallback_center=fallback,
            timezone=self._timezone(f.get("timezone"), d.timezone),
            unconnected=self.r.choice(
                f.get("unconnected"), "unconnected", d.unconnected, UnconnectedMode
            ),
            unconnected_announcement=read_sound(
                self.r,
                f.get("unconnected_announcement"),
                "unconnected_announcement",
                d.unconnected_announcement,
            ),
            all_busy_announcement=read_sound(
                self.r,
                f.get("all_busy_announcement"),
                "all_busy_announcement",
                d.all_busy_announcement,
            ),
            unknown_origin=self._unknown_origin(f.get("unknown_origin")),
            service_level=self._service_level(f.get("service_level")),
            max_hops=self.r.integer(f.get("max_hops"), "max_hops", d.max_hops, minimum=1),
            controller=self._controller(f.get("controller")),
            callback_dial=self._callback_dial(f.get("callback_dial"), d.callback_dial),
            source=source,
        )

    # --- global sections -------------------------------------------------

    def _timezone(self, node: Node | None, default: str) -> str:
        if node is None:
            return default
        name = self.r.text(node, "timezone", "a time zone name such as Europe/Berlin")
        if name is None:
            return default
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            hint = did_you_mean(name, zoneinfo.available_timezones())
            self.r.report(node, f"timezone: unknown time zone {name!r}{hint}")
            return default
        return name

    def _callback_dial(self, node: Node | None, default: str) -> str:
        if node is None:
            return default
        value = self.r.string(node, "callback_dial", default)
        tech = _DIAL_TECH.match(value)
        rest = value[tech.end() :] if tech else ""
        if (
            tech is None
            or len(_DIAL_NUMBER.findall(rest)) != 1
            or _DIAL_REST.fullmatch(_DIAL_NUMBER.sub("", rest)) is None
        ):
            self.r.report(
                node,
                f"callback_dial: {value!r} is not a Dial() target TECH/resource with "
                f"{CALLBACK_DIAL_NUMBER} once and no , | ( ) $ {{ }} or spaces otherwise, "
                f"such as {DEFAULT_CALLBACK_DIAL!r}",
            )
            return default
        return value

    def _unknown_origin(self, node: Node | None) -> UnknownOrigin:
        d = UnknownOrigin()
        if node is None:
            return d
        p = "unknown_origin"
        f = self.r.fields(
            node, p, optional=("mode", "prompt", "retry_prompt", "digit_timeout_s", "attempts")
        )
        return UnknownOrigin(
            mode=self.r.choice(f.get("mode"), f"{p}.mode", d.mode, UnknownOriginMode),
            prompt=read_sound(self.r, f.get("prompt"), f"{p}.prompt", d.prompt),
            retry_prompt=read_sound(
                self.r, f.get("retry_prompt"), f"{p}.retry_prompt", d.retry_prompt
            ),
            digit_timeout_s=self.r.integer(
                f.get("digit_timeout_s"), f"{p}.digit_timeout_s", d.digit_timeout_s, minimum=1
            ),
            attempts=self.r.integer(f.get("attempts"), f"{p}.attempts", d.attempts, minimum=1),
        )

    def _service_level(self, node: Node | None) -> ServiceLevel:
        d = ServiceLevel()
        if node is None:
            return d
        p = "service_level"
        f = self.r.fields(node, p, optional=("threshold_s", "target", "short_abandon_s"))
        target = self.r.number(f.get("target"), f"{p}.target", d.target)
        if not 0 < target <= 1:
            self.r.report(
                f["target"],
                f"{p}.target: must be a share above 0 and at most 1 (0.75 = 75 %), got {target:g}",
            )
            target = d.target
        return ServiceLevel(
            threshold_s=self.r.integer(
                f.get("threshold_s"), f"{p}.threshold_s", d.threshold_s, minimum=1
            ),
            target=target,
            short_abandon_s=self.r.integer(
                f.get("short_abandon_s"), f"{p}.short_abandon_s", d.short_abandon_s, minimum=0
            ),
        )

    def _controller(self, node: Node | None) -> ControllerSettings:
        d = ControllerSettings()
        if node is None:
            return d
        p = "controller"
        f = self.r.fields(
            node,
            p,
            optional=(
                "ami",
                "ami_username",
                "ami_secret_env",
                "ami_secret_file",
                "agi_listen",
                "metrics_listen",
                "agi_deadline_ms",
                "journal",
                "journal_retention_days",
                "journal_key_env",
                "journal_key_file",
                "journal_salt_env",
                "control_socket",
                "queue_log",
                "log_format",
            ),
        )
        secret_env = self._env_name(
            f.get("ami_secret_env"), f"{p}.ami_secret_env", d.ami_secret_env, nullable=True
        )
        secret_file = self.r.optional_string(
            f.get("ami_secret_file"), f"{p}.ami_secret_file", d.ami_secret_file
        )
        if secret_env is None and secret_file is None:
            where = f.get("ami_secret_env") or f.get("ami_secret_file") or node
            self.r.report(where, f"{p}: no AMI secret: name ami_secret_env or ami_secret_file")
        return ControllerSettings(
            ami=self._endpoint(f.get("ami"), f"{p}.ami", d.ami),
            ami_username=self.r.string(f.get("ami_username"), f"{p}.ami_username", d.ami_username),
            ami_secret_env=secret_env or "",
            ami_secret_file=secret_file,
            agi_listen=self._endpoint(f.get("agi_listen"), f"{p}.agi_listen", d.agi_listen),
            metrics_listen=self._endpoint(
                f.get("metrics_listen"), f"{p}.metrics_listen", d.metrics_listen
            ),
            agi_deadline_ms=self.r.integer(
                f.get("agi_deadline_ms"), f"{p}.agi_deadline_ms", d.agi_deadline_ms, minimum=1
            ),
            journal_path=self.r.string(f.get("journal"), f"{p}.journal", d.journal_path),
            journal_retention_days=self.r.integer(
                f.get("journal_retention_days"),
                f"{p}.journal_retention_days",
                d.journal_retention_days,
                minimum=1,
            ),
            journal_key_env=self._env_name(
                f.get("journal_key_env"), f"{p}.journal_key_env", d.journal_key_env
            )
            or d.journal_key_env,
            journal_key_file=self.r.optional_string(
                f.get("journal_key_file"), f"{p}.journal_key_file", d.journal_key_file
            ),
            journal_salt_env=self._env_name(
                f.get("journal_salt_env"), f"{p}.journal_salt_env", d.journal_salt_env
            )
            or d.journal_salt_env,
            control_socket=self.r.optional_string(
                f.get("control_socket"), f"{p}.control_socket", d.control_socket
            ),
            queue_log=self.r.optional_string(f.get("queue_log"), f"{p}.queue_log", d.queue_log),
            log_format=self.r.choice(
                f.get("log_format"), f"{p}.log_format", d.log_format, LogFormat
            ),
        )

    def _endpoint(self, node: Node | None, path: str, default: Endpoint) -> Endpoint:
        if node is None:
            return default
        text = self.r.text(node, path, "host:port")
        if text is None:
            return default
        try:
            return parse_endpoint(text)
        except ValueError as err:
            self.r.report(node, f"{path}: {err}")
            return default

    def _env_name(
        self, node: Node | None, path: str, default: str, *, nullable: bool = False
    ) -> str | None:
        if nullable and isinstance(node, ScalarNode) and node.tag == NULL:
            return None
        name = self.r.string(node, path, default)
        if node is not None and name and ENV_NAME.fullmatch(name) is None:
            self.r.report(node, f"{path}: {name!r} is not an environment variable name")
        return name
