"""Counts the libvirt calls of one plugin run, for the fleet benchmark (bench/fleet).

The benchmark's Icinga 2 agents put this directory on PYTHONPATH, so every
plugin they run loads this module at start. It changes nothing until the
run imports libvirt (a snapshot hit never does); then every public method of
virConnect and virDomain, and the module's open functions, count their calls.
At exit the run appends one line of JSON to the file $CHECK_VM_FLEET_CALLS:
{"end": <wall clock>, "pid": <pid>, "calls": {"c.getAllDomainStats": 1, ...}},
an empty "calls" for a run that made none. The test driver runs inside the
plugin's process, so these calls are all the libvirt work a run does; on a
remote URI each would be one RPC to libvirtd.
"""

import atexit
import json
import os
import sys
import time
from collections import Counter

CALLS = Counter()
MODULE_FUNCTIONS = ("open", "openReadOnly", "openAuth")


def _counted(key, function):
    def counting(*args, **kwargs):
        CALLS[key] += 1
        return function(*args, **kwargs)
    counting.__name__ = getattr(function, "__name__", key)
    counting.__doc__ = getattr(function, "__doc__", None)
    return counting


def _wrap(module):
    for cls, prefix in ((module.virConnect, "c"), (module.virDomain, "d")):
        for name, member in list(vars(cls).items()):
            if callable(member) and not name.startswith("_"):
                setattr(cls, name, _counted(f"{prefix}.{name}", member))
    for name in MODULE_FUNCTIONS:
        if hasattr(module, name):
            setattr(module, name, _counted(f"libvirt.{name}", getattr(module, name)))


class _LibvirtFinder:
    """Finds libvirt as Python would, and wraps it once it has been executed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "libvirt":
            return None
        sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec("libvirt")
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            _wrap(module)
        spec.loader.exec_module = exec_module
        return spec


def _record():
    target = os.environ.get("CHECK_VM_FLEET_CALLS")
    if not target:
        return
    line = json.dumps({"end": time.time(), "pid": os.getpid(), "calls": CALLS}) + "\n"
    descriptor = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


sys.meta_path.insert(0, _LibvirtFinder())
atexit.register(_record)
