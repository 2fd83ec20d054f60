"""Entry points of the executables: `check_vm_<name>` for every registered check.

A check of one VM runs through `runtime`, a check of a hypervisor through
`hostruntime`.

Each entry point imports only its own check module, so a run loads nothing
it does not use.  The functions are made on demand from the registry
(`from libcheck.commands import check_vm_cpu` works for every check).
"""

from __future__ import annotations

import atexit
import gc
import os
import sys

from libcheck import registry, runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, NoReturn


def run(executable: str) -> NoReturn:
    """Run the check whose executable this is, with sys.argv, and exit with its state."""
    entry = registry.by_name(executable)
    check = entry.load()
    if entry.scope == registry.HOST_SCOPE:
        from libcheck import hostruntime

        _collect_from_now_on()
        hostruntime.main(check)
    _collect_from_now_on()
    runtime.main(check)


def _collect_from_now_on() -> None:
    """Turn garbage collection on (the launcher turns it off for the imports),
    leaving out every object the imports made."""
    # Collections during the imports found nothing to free and cost a run about
    # 1.5 ms; the modules' objects live as long as the process.
    gc.freeze()
    gc.enable()


def exit_at_once(code: object) -> NoReturn:
    """What a launcher does with its check's SystemExit: end the process with
    that status once the output is flushed and the exit callbacks have run,
    without the interpreter's teardown."""
    # By now every state file is written, synced and closed, and the output is
    # printed; the teardown (freeing every module's objects, a last garbage
    # collection) would cost a run about 6 ms and change nothing on disk.
    status = exit_status(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe or stream: nothing more can be said there
    os._exit(status)


def exit_status(code: object) -> int:
    """The status the interpreter would exit with for `sys.exit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def __getattr__(attribute: str) -> Callable[[], NoReturn]:
    try:
        entry = registry.by_name(attribute)
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}") from None

    def entry_point() -> NoReturn:
        run(entry.executable)

    entry_point.__name__ = entry.executable
    entry_point.__doc__ = f"{entry.executable}: {entry.summary}."
    return entry_point
