"""PNGs of a graph run, one per check, drawn by graphite-web's render API.

Each picture spans the run, 800x300, titled, with a legend; rates on the
left axis and, where a check has two kinds of rate (bytes and operations,
bits and packets), the second kind on the right axis. The checks' points lie
INTERVAL seconds apart in whisper files of one-second resolution, so the
lines are drawn connected across the empty seconds.
"""

from __future__ import annotations

import struct
from pathlib import Path

from .graphtier import GraphRun

WIDTH, HEIGHT = 800, 300
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert data.startswith(PNG_SIGNATURE)
    return struct.unpack(">II", data[16:24])


def alias(run: GraphRun, service: str, label: str, legend: str, right: bool = False) -> str:
    target = run.graphite_name(service, label)
    return f"alias({f'secondYAxis({target})' if right else target},'{legend}')"


def pictures(run: GraphRun) -> dict[str, tuple[str, list[str], dict]]:
    """file stem -> (title, targets, extra render parameters)."""
    tap = run.vm.tap
    cpu = [alias(run, "vm-cpu", label, legend) for label, legend in (
        ("cpu_usage", "cpu_usage (% of 2 vCPUs)"), ("vcpu0_usage", "vcpu0_usage (%)"),
        ("vcpu1_usage", "vcpu1_usage (%)"))]
    mem = [alias(run, "vm-mem", label, label + " (bytes)")
           for label in ("mem_used", "mem_usable")]
    disk = [alias(run, "vm-disk-io", f"{disk}_{kind}_bytes_per_second", f"{disk} {kind} bytes/s")
            for disk in ("vda", "vdb") for kind in ("read", "write")]
    disk += [alias(run, "vm-disk-io", f"{disk}_ops_per_second", f"{disk} IOPS (right)", right=True)
             for disk in ("vda", "vdb")]
    nic = [alias(run, "vm-nic", f"{tap}_{kind}_bits_per_second", f"{tap} {kind} bits/s")
           for kind in ("rx", "tx")]
    nic += [alias(run, "vm-nic", f"{tap}_{kind}_packets_per_second",
                  f"{tap} {kind} packets/s (right)", right=True) for kind in ("rx", "tx")]
    return {
        "vm_cpu": ("check_vm_cpu: one vCPU busy, then idle", cpu, {"yMin": "0", "yMax": "100"}),
        "vm_mem": ("check_vm_mem: 64 MiB held in the guest, then freed", mem, {}),
        "vm_disk_io": ("check_vm_disk_io: 32 MiB written to vda, 16 MiB read from vdb",
                       disk, {"yMin": "0"}),
        "vm_nic": ("check_vm_nic: pings of 1000 bytes to the host", nic, {"yMin": "0"}),
    }


def render_all(run: GraphRun, directory: Path) -> list[Path]:
    """One PNG per check under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, (title, targets, extra) in pictures(run).items():
        written.append(run.web.render_png(
            targets, directory / f"{stem}.png", width=WIDTH, height=HEIGHT, title=title,
            from_=str(int(run.started)), until=str(int(run.ended) + 1),
            lineMode="connected", hideLegend="false", **extra))
    return written
