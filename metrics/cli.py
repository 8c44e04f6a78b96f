"""``lotse dashboards build``: write the Grafana dashboards and the Prometheus rules.

Exit codes as everywhere in lotse: 0 ok, 1 runtime failure (the files could
not be written, or ``--check`` found them out of date), 2 bad input (the
configuration needs fixing).
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from cliutil import default_config_path, read_config
from router.configload import ConfigError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse dashboards build [--config C] [--out DIR] [--check]`` and ``shipped``."""
    parser = sub.add_parser(
        "dashboards",
        help="generate the Grafana dashboards and Prometheus rules",
        description="Grafana dashboards (national overview, per center, controller health) "
        "and the Prometheus recording and alerting rules, generated from code with the "
        "configuration's service-level target and time zone.",
    )
    commands = parser.add_subparsers(dest="dashboards_command", metavar="SUBCOMMAND", required=True)
    build_parser = commands.add_parser(
        "build",
        help="write lotse-*.json (Grafana) and lotse.rules.yml (Prometheus)",
        description="Write lotse-overview.json, lotse-center.json and lotse-controller.json "
        "for Grafana's dashboard import, and lotse.rules.yml for Prometheus' rule_files, "
        "into DIR.",
    )
    build_parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: $LOTSE_CONFIG, ./config.yaml, then the demo network)",
    )
    build_parser.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="output directory (default: .)"
    )
    build_parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a file in DIR differs from what would be written",
    )
    build_parser.set_defaults(func=run_build)
    shipped = commands.add_parser(
        "shipped",
        help="write the dashboards and rules shipped with lotse (no extra needed)",
        description="Write the dashboards and rules lotse ships, built for a 75 % target in "
        "Europe/Berlin (the demo network's), into DIR: no grafana-foundation-sdk needed. "
        "Another target or time zone: lotse dashboards build (pip install 'lotse[dashboards]').",
    )
    shipped.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="output directory (default: .)"
    )
    shipped.set_defaults(func=run_shipped)


# The packaged artefacts, as `python -m metrics.grafana.build` commits them.
SHIPPED = (
    ("grafana", "lotse-overview.json"),
    ("grafana", "lotse-center.json"),
    ("grafana", "lotse-controller.json"),
    ("prometheus", "lotse.rules.yml"),
)


def run_shipped(args: argparse.Namespace) -> int:
    """Copy the packaged dashboards and rules (read with importlib.resources) into ``--out``."""
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        for folder, name in SHIPPED:
            text = resources.files("metrics").joinpath(folder, name).read_text(encoding="utf-8")
            (out / name).write_text(text, encoding="utf-8")
            print(out / name)
    except OSError as err:
        print(f"lotse dashboards shipped: {err}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def run_build(args: argparse.Namespace) -> int:
    """Load the configuration, generate the files, write (or compare) them."""
    # Imported here: the Grafana SDK is big, and other subcommands never need it.
    try:
        from metrics.grafana.base import Settings
        from metrics.grafana.build import artefacts
    except ImportError as err:
        print(
            f"lotse dashboards build needs grafana-foundation-sdk ({err}): "
            "pip install 'lotse[dashboards]'; or `lotse dashboards shipped --out DIR` writes "
            "the ready-made ones (75 % target, Europe/Berlin)",
            file=sys.stderr,
        )
        return EXIT_FAILURE

    path: Path = args.config or default_config_path()
    try:
        config = read_config(path)
    except ConfigError as err:
        for line in err.lines():
            print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"{path}: cannot read configuration: {err.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        files = artefacts(Settings.of(config))
    except ValueError as err:  # e.g. a target of 100 % leaves no error budget
        print(f"{path}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out: Path = args.out
    if args.check:
        stale = [n for n, text in files.items() if _read(out / n) != text]
        for name in stale:
            print(f"{out / name}: out of date (run lotse dashboards build)", file=sys.stderr)
        return EXIT_FAILURE if stale else EXIT_OK
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8")
            print(out / name)
    except OSError as err:
        print(f"lotse dashboards build: {err}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
