"""What the tools that are not checks share: every failure one line on stderr, exit 3.

check_vm_inventory and check_vm_director_feed speak as their name, on one
line, whatever the locale (what the encoding cannot hold is escaped) and even
with stderr closed; their usage errors are the same one line (`ToolParser`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import NoReturn, Optional, TextIO

EXIT_UNKNOWN = 3


def say(prog: str, message: str, stream: Optional[TextIO] = None) -> None:
    """`prog: message` on one line on stderr (or `stream`), if there is one."""
    stream = stream or sys.stderr
    if stream is None:
        return
    line = f"{prog}: {' '.join(message.split())}"
    encoding = getattr(stream, "encoding", None) or "utf-8"
    with contextlib.suppress(OSError, ValueError):
        # A value from the command line may hold what the encoding cannot.
        print(line.encode(encoding, "backslashreplace").decode(encoding), file=stream,
              flush=True)


def fail(prog: str, message: str, stream: Optional[TextIO] = None) -> NoReturn:
    """Say `message` and exit with 3."""
    say(prog, message, stream)
    raise SystemExit(EXIT_UNKNOWN)


def reason(error: Exception) -> str:
    """An error's words: an OSError's strerror, else its text."""
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


class ToolParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit 3, like every failure."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, f"{message} (see --help)")
