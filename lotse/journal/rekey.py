"""``lotse journal rekey``: seal the open callback requests' numbers under the current key.

After a key change, ``lotse run`` opens the numbers sealed under the old key
as long as that key is among ``$LOTSE_CALLBACK_KEYS``; this command seals
them under ``$LOTSE_CALLBACK_KEY`` again, so the old key can be retired. It
may run beside a running controller (each row is changed only if it is still
open and unchanged). The keys come from the environment or, as for ``lotse
run``, from systemd credentials (``$CREDENTIALS_DIRECTORY``). Exit codes: 0
done (locked requests are named on stderr: no key given opens them), 1 the
journal could not be read or written, 2 bad input (no current key, a bad
configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from cliutil import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, BadInput, add_config_option, load
from lotse.credentials import load_credentials
from lotse.journal.callbackkeys import (
    CURRENT_ENV,
    OLDER_ENV,
    CallbackKeyError,
    KeyRing,
    key_ring,
)
from lotse.journal.callbackstore import CallbackStore, RekeyResult
from lotse.journal.schema import JournalError
from router.numbering import OrtsnetzTable


def add_rekey(jsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse journal rekey [--journal J] [--json]``."""
    rekey = jsub.add_parser(
        "rekey",
        help="seal the open callback requests' numbers under the current callback key",
        description=f"Seal the number of every open callback request under ${CURRENT_ENV} "
        f"again, opening it with that key or one of ${OLDER_ENV} (older keys, comma "
        "separated). A request no key opens stays locked (named on stderr). Safe beside a "
        "running controller; afterwards the older keys can be dropped.",
    )
    rekey.add_argument(
        "--journal", help="journal file (default: controller.journal_path of the config)"
    )
    rekey.add_argument("--json", action="store_true", help="print the counts as JSON")
    add_config_option(rekey)
    rekey.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Rekey the journal's open callback requests; returns the exit code."""
    try:
        config = load(args, OrtsnetzTable.load())
        # As lotse run reads them: `systemd-run -p LoadCredential=…` works too.
        load_credentials(config)
    except BadInput as err:
        print(str(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    ring, problems = key_ring()
    for problem in problems:
        print(f"lotse journal rekey: warning: {problem}", file=sys.stderr)
    if not ring.can_seal:
        print(
            f"lotse journal rekey: no current callback key: set ${CURRENT_ENV} (and the old "
            f"one in ${OLDER_ENV})",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    journal = args.journal or config.controller.journal_path
    try:
        done = asyncio.run(_rekey(Path(journal), ring))
    except (JournalError, CallbackKeyError) as err:
        print(f"lotse journal rekey: {err}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(
            json.dumps(
                {"resealed": done.resealed, "current": done.current, "locked": list(done.locked)}
            )
        )
    else:
        print(
            f"{journal}: {done.resealed} open callback requests sealed under the current key, "
            f"{done.current} already were, {len(done.locked)} locked"
        )
    if done.locked:
        print(
            f"lotse journal rekey: {len(done.locked)} open requests are locked (no key given "
            f"opens them): {', '.join(done.locked)}; add the key that sealed them to "
            f"${OLDER_ENV}, or cancel them (lotse ctl callbacks --cancel ID)",
            file=sys.stderr,
        )
    return EXIT_OK


async def _rekey(path: Path, ring: KeyRing) -> RekeyResult:
    if not path.is_file():
        raise JournalError(f"{path}: no such journal")
    # The caller hash key is not needed: no request is added.
    store = await CallbackStore.open(path, ring, b"")
    try:
        return await store.rekey()
    finally:
        await store.close()
