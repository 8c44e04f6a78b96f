"""What lotse run and lotse demo create is never readable by others, whatever the umask."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.lotse.rig import REPO

CREATE = (
    "import sys; from cliutil import private_umask; private_umask(); open(sys.argv[1], 'w').close()"
)


def test_private_umask_adds_027_to_any_umask(tmp_path: Path) -> None:
    for umask, want in ((0o022, 0o640), (0o000, 0o640), (0o077, 0o600)):
        path = tmp_path / f"f{umask:o}"
        subprocess.run([sys.executable, "-c", CREATE, str(path)], cwd=REPO, check=True, umask=umask)
        assert path.stat().st_mode & 0o777 == want, oct(umask)
