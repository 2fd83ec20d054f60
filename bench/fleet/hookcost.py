"""What bench/fleet/fleethook itself costs a plugin run: CPU with and without it, paired.

The fleet's agents load the hook into every plugin they run, so its cost is in
the fleet's CPU figures. This times the installed check_vm_cpu on a small
test-driver node, as a snapshot hit and as a direct read (where libvirt is
imported and wrapped), alternating runs with and without the hook, and gives
the median CPU (user+system, from getrusage of the children) of each.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.fleet.cluster import HOOK

PLUGIN = "/usr/lib/nagios/plugins/check_vm_cpu"
# A fixed UUID: without one the test driver makes up a new one on every connection,
# and the check's state (kept by UUID) would never find its baseline.
NODE = """<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>
<active>2</active><mhz>2000</mhz><model>i686</model></cpu><memory>4194304</memory>
<domain type='test'><name>vm</name><uuid>6d1d4a1e-8b8f-4f0e-9a51-3c1f3c0b7a11</uuid>
<memory unit='KiB'>1048576</memory><vcpu>2</vcpu>
<os><type arch='i686'>hvm</type></os></domain></node>
"""


def cpu_ms(argv: list[str], environment: dict[str, str], timeout: float = 60) -> float:
    """User+system CPU of one run, in ms (this process has no other child meanwhile)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env=environment, timeout=timeout, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1, 2):
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}")
    return 1000 * (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def options(node: Path, state: Path) -> list[str]:
    return ["--connect", f"test://{node}", "--domain", "vm", "--state-dir", str(state),
            "--sample-interval", "0.05"]


def hit_ms(node: Path, environment: dict[str, str], plain: dict[str, str]) -> float:
    """CPU of a snapshot hit of check_vm_cpu, in a state directory of its own: its
    baseline is read directly, then check_vm_mem (with no baseline yet) refreshes
    the snapshot, which is then newer than that baseline."""
    common = options(node, Path(tempfile.mkdtemp(dir=node.parent)))
    cpu_ms([PLUGIN, *common, "--snapshot-max-age", "0"], plain)
    time.sleep(0.1)
    cpu_ms([PLUGIN.replace("_cpu", "_mem"), *common, "--state-if-no-balloon", "ok"], plain)
    return cpu_ms([PLUGIN, *common], environment)


def direct_ms(node: Path, environment: dict[str, str], _plain: dict[str, str]) -> float:
    """CPU of a direct read (--snapshot-max-age 0) of check_vm_cpu."""
    return cpu_ms([PLUGIN, *options(node, node.parent / "state"), "--snapshot-max-age", "0"],
                  environment)


def measure(rounds: int = 15) -> list[str]:
    """One line per path (hit, direct): median CPU without and with the hook."""
    lines = []
    with tempfile.TemporaryDirectory(prefix="check_vm-hookcost-") as scratch:
        node, calls = Path(scratch) / "node.xml", Path(scratch) / "calls.log"
        node.write_text(NODE)
        plain = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        hooked = {**plain, "PYTHONPATH": str(HOOK), "CHECK_VM_FLEET_CALLS": str(calls)}
        for path, run in (("hit", hit_ms), ("direct", direct_ms)):
            calls.write_text("")
            times: dict[str, list[float]] = {"without": [], "with": []}
            for _ in range(rounds):
                times["without"].append(run(node, plain, plain))
                times["with"].append(run(node, hooked, plain))
            without, with_hook = (statistics.median(times[k]) for k in ("without", "with"))
            silent = sum('"calls": {}' in line for line in calls.read_text().splitlines())
            lines.append(f"the hook's cost ({path}, {rounds} paired runs of check_vm_cpu): "
                         f"CPU {without:.1f} ms without, {with_hook:.1f} ms with it "
                         f"({with_hook - without:+.1f} ms); {silent} of the hooked runs "
                         "called no libvirt")
    return lines
