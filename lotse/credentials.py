"""Secrets handed over by systemd as credentials (``LoadCredential=``).

systemd copies each credential into a directory only the service can read and
names it in ``$CREDENTIALS_DIRECTORY``: unlike an environment variable, a
credential is not shown by ``systemctl show`` nor inherited by children.
``lotse run`` takes each one it finds under the name of the environment
variable lotse reads that secret from, so every reader (the AMI login, the
journal key, the callback desk) sees it the one way; a credential wins over
the variable, and the variable over a file named in the configuration.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from cliutil import BadInput
from router.config import Config

__all__ = ["DIRECTORY_ENV", "credential_names", "load_credentials"]

DIRECTORY_ENV = "CREDENTIALS_DIRECTORY"

# The callback desk's variables (lotse.controller, lotse.journal.callbackkeys).
_CALLBACK_KEY_ENV = "LOTSE_CALLBACK_KEY"
_CALLBACK_OLDER_KEYS_ENV = "LOTSE_CALLBACK_KEYS"
_CALLBACK_AMI_SECRET_ENV = "LOTSE_CALLBACK_AMI_SECRET"


def credential_names(config: Config) -> dict[str, str]:
    """Credential name -> the environment variable it stands for.

    A secret whose variable the configuration leaves empty has no
    credential either: it comes from its file.
    """
    c = config.controller
    names = {
        "callback-key": _CALLBACK_KEY_ENV,
        "callback-keys": _CALLBACK_OLDER_KEYS_ENV,
        "callback-ami-secret": _CALLBACK_AMI_SECRET_ENV,
    }
    if c.ami_secret_env:
        names["ami-secret"] = c.ami_secret_env
    if c.journal_key_env:
        names["journal-key"] = c.journal_key_env
    return names


def load_credentials(config: Config, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Put the credentials systemd handed over into ``environ``; their names, loaded.

    An empty credential counts as absent (the unit lists every secret lotse
    knows; the unused ones are empty files). One that cannot be read is bad
    input, named by its credential name and path, never its value.
    """
    env = os.environ if environ is None else environ
    directory = env.get(DIRECTORY_ENV)
    if not directory:
        return []
    loaded = []
    for name, variable in credential_names(config).items():
        path = Path(directory) / name
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as err:
            why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise BadInput(f"credential {name} ({path}): cannot read: {why}") from err
        if value:
            env[variable] = value
            loaded.append(name)
    return loaded
