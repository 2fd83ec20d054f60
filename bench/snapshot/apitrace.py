"""Run one check in this process with libvirt-python's API wrapped; print the calls.

    python bench/snapshot/apitrace.py RECORD.json CHECK [check options...]

Every public method of virConnect and virDomain, and libvirt.openReadOnly and
libvirt.registerErrorHandler, is wrapped before the check runs; each call is
recorded as the Python statement that repeats it (the connection is `c`, the
domain `d`), with whether it raised libvirtError. The check prints as usual; RECORD.json
gets one object: {"exit": N, "calls": [[code, raised], ...], "xml": [...]}, where
"xml" names the XML parsers (lxml.etree, xml.etree.ElementTree) the run imported.
The test driver runs inside the client process, so these API calls are what
it costs; on a remote URI each non-local call is one RPC.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import libvirt

CALLS: list[list] = []
XML_PARSERS = ("lxml.etree", "xml.etree.ElementTree")
_RECEIVERS = {libvirt.virConnect: "c", libvirt.virDomain: "d"}


def code_of(value) -> str:
    """A Python expression for an argument, in terms of `c` and `d`."""
    for cls, name in _RECEIVERS.items():
        if isinstance(value, cls):
            return name
    if isinstance(value, (list, tuple)):
        inner = ", ".join(code_of(item) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner},)"
    if callable(value):
        return "lambda *_: None"
    return repr(value)


def wrapped(function, prefix: str):
    """`function`, recording each call as `prefix.name(args)` (prefix from self)."""
    @functools.wraps(function)
    def record(*args, **kwargs):
        receiver, rest = (prefix, args) if prefix == "libvirt" else (code_of(args[0]), args[1:])
        words = [code_of(arg) for arg in rest]
        words += [f"{key}={code_of(value)}" for key, value in kwargs.items()]
        entry = [f"{receiver}.{function.__name__}({', '.join(words)})", False]
        CALLS.append(entry)
        try:
            return function(*args, **kwargs)
        except libvirt.libvirtError:
            entry[1] = True
            raise
    return record


def install() -> None:
    """Wrap the public API of the two classes and the module's entry points."""
    for cls in _RECEIVERS:
        for name, member in list(vars(cls).items()):
            if callable(member) and not name.startswith("_"):
                setattr(cls, name, wrapped(member, "self"))
    for name in ("openReadOnly", "registerErrorHandler"):
        setattr(libvirt, name, wrapped(getattr(libvirt, name), "libvirt"))


def run_check(check: str, argv: list[str]) -> int:
    """Run `check` (cpu, mem, disk_io, nic) as its executable would, return its exit."""
    from libcheck import commands

    sys.argv = [f"check_vm_{check}", *argv]
    try:
        getattr(commands, f"check_vm_{check}")()
    except SystemExit as end:
        return end.code if isinstance(end.code, int) else 1
    return 0


def main() -> None:
    """Trace one run and print the JSON record."""
    install()
    record = Path(sys.argv[1])
    status = run_check(sys.argv[2], sys.argv[3:])
    parsers = [name for name in XML_PARSERS if name in sys.modules]
    record.write_text(json.dumps({"exit": status, "calls": CALLS, "xml": parsers}))


if __name__ == "__main__":
    main()
