"""One problem found in a manifest or a sound file, printed the way editors jump to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """A problem at ``source`` (a file), at ``line``:``col`` when the position is known.

    Lines and columns count from 1, as editors and compilers print them.
    """

    source: str
    message: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}:{self.col or 1}: {self.message}"
