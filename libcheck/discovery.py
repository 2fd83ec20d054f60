"""Device discovery from the domain XML: disks, interfaces, the balloon.

The statistics name devices; only the XML says what they are (a disk's
source, an interface's MAC and bandwidth limits, the balloon's model and
stats period).  lxml parses it, with entity resolution and network access
off, and is imported on first use: a check served by the host snapshot
never parses XML and never loads it.
"""

from __future__ import annotations

import functools

from libcheck.records import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


class DiskDevice(NamedTuple):
    """A disk as the domain XML describes it."""

    name: str
    source: Optional[str]
    device: str


class NicDevice(NamedTuple):
    """An interface as the domain XML describes it; limits in bits per second."""

    name: Optional[str]
    mac: Optional[str]
    source: Optional[str]
    rx_limit_bps: Optional[float] = None
    tx_limit_bps: Optional[float] = None


class Devices(NamedTuple):
    """The disks and interfaces of a domain XML."""

    disks: tuple[DiskDevice, ...]
    nics: tuple[NicDevice, ...]


class Description(NamedTuple):
    """What the domain XML says that the statistics do not."""

    devices: Devices
    balloon_model: Optional[str]
    stats_period: Optional[int]


def parse_description(xml: str) -> Description:
    """Devices and balloon configuration from one parse of a domain XML."""
    root = parse_xml(xml)
    return Description(_devices(root), *_balloon(root))


def parse_devices(xml: str) -> Devices:
    """Disks and interfaces, named by their target, from a domain XML."""
    return _devices(parse_xml(xml))


def parse_pool_target(xml: str) -> tuple[Optional[str], Optional[str]]:
    """A storage pool's type and target path from its XML (None where absent)."""
    root = parse_xml(xml)
    return root.get("type"), root.findtext("target/path")


def parse_xml(xml: str):
    """The root element of a domain XML; ValueError when it is not well formed."""
    from lxml import etree

    try:
        return etree.fromstring(xml.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as error:
        raise ValueError(f"the domain XML is not well formed: {error}") from None


@functools.lru_cache(maxsize=1)
def _parser():
    from lxml import etree

    # libvirt writes the XML, but a description or metadata element holds
    # what its users typed: no entity expansion, no fetching of anything.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True)


def _devices(root) -> Devices:
    disks = tuple(_disk_device(node) for node in root.iterfind("devices/disk")
                  if node.find("target") is not None)
    nics = tuple(_nic_device(node) for node in root.iterfind("devices/interface"))
    return Devices(disks, nics)


def _balloon(root) -> tuple[Optional[str], Optional[int]]:
    """The memballoon model and its stats period (seconds)."""
    balloon = root.find("devices/memballoon")
    if balloon is None:
        return None, None
    stats = balloon.find("stats")
    period = stats.get("period") if stats is not None else None
    return balloon.get("model"), int(period) if period and period.isdigit() else None


def _disk_device(node) -> DiskDevice:
    source = node.find("source")
    path = None
    if source is not None:
        path = (source.get("file") or source.get("dev") or source.get("name")
                or source.get("volume") or source.get("dir"))
    return DiskDevice(node.find("target").get("dev"), path, node.get("device", "disk"))


def _nic_device(node) -> NicDevice:
    target, mac, source = node.find("target"), node.find("mac"), node.find("source")
    source_name = None
    if source is not None:
        source_name = (source.get("bridge") or source.get("network")
                       or source.get("dev") or source.get("path"))
    return NicDevice(target.get("dev") if target is not None else None,
                     mac.get("address") if mac is not None else None, source_name,
                     _limit(node, "inbound"), _limit(node, "outbound"))


def _limit(node, direction: str) -> Optional[float]:
    # <inbound> shapes what the domain receives; `average` is in kilobytes per
    # second, which libvirt hands to tc as kbps: 1000 bytes, 8000 bits.
    element = node.find(f"bandwidth/{direction}")
    average = element.get("average") if element is not None else None
    return int(average) * 8000.0 if average and average.isdigit() else None
