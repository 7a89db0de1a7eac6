"""Progress bars for every command: tqdm redraws on a terminal; on a file or a pipe, whole lines."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm

_CURSOR = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _Lines:
    """A stream that turns tqdm's carriage-return redraws into one plain line per update."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        text = _CURSOR.sub("", text.replace("\r", "")).strip()  # nested bars' cursor moves mean nothing in a file
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    quiet: bool = False,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar on stderr: redrawn every 0.1 s on a terminal, else a line every 10 s (log files stay readable)."""
    tty = sys.stderr.isatty()
    options = {"mininterval": 0.1 if tty else 10.0, "dynamic_ncols": tty} | kwargs
    return tqdm(
        iterable, total=total, desc=desc, disable=quiet, file=sys.stderr if tty else _Lines(sys.stderr), **options
    )
