"""check_vm_nic: per-interface traffic, packets, errors and drops of a VM.

Every interface with a host-side device is reported by its target name
(vnet0, tap3...); its MAC address and source (bridge or network) show in -v
and select it as well as its name.  An interface without a host-side device
(user-mode networking) has no counters: -v lists it, nothing else does.

Directions are the guest's, as libvirt counts them: rx is what the VM
received, tx what it sent (the host's tap counts the other way round).

The headline, which a bare -w/-c range judges, is each interface's rx and
tx bits per second: links are sized, policed and alarmed per direction and
per link, so one saturated direction must alert even when the other
direction, or the VM's other interfaces, are idle (totals would hide it).
"""

from __future__ import annotations

import argparse
import re

from nagiosplugin.state import Unknown

from libcheck.devices import Selection, add_selection_options
from libcheck.errors import UsageError
from libcheck.evaluation import Condition, Reading
from libcheck.measure import Measurement
from libcheck.metrics import (
    Field,
    Limit,
    LostShare,
    Metric,
    Rate,
    Reported,
    ShareOfLimit,
    TotalOf,
    Value,
    Wording,
)
from libcheck.perdevice import DeviceCheck
from libcheck.records import NamedTuple
from libcheck.samples import DomainSample, Group, NicSample
from libcheck.thresholds import NIC_KIND, LabelSpec, parse_number
from libcheck.units import human_bits, human_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Sequence

BITS_PER_BYTE = 8
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", re.IGNORECASE)

# What the rates or a percentage already say: left out first when the
# perfdata of many interfaces must fit a plugin's output; the loss shares go
# before whole interfaces do.
CUMULATIVE, COUNTS, LOSS_SHARES = 1, 2, 3
NO_LINK_SPEED = ("{subject} has no link speed to take %s usage of: give --speed (e.g. "
                 "--speed 1G) or a <bandwidth> limit in the domain XML")


def _per_nic(metric: str, uom: str, meaning: str, value: Value, wording: Wording,
             headline: bool = False, spare: int = 0, maximum=None) -> Metric:
    return Metric(LabelSpec(metric, uom, meaning, kind=NIC_KIND, headline=headline,
                            spare=spare), value, wording, maximum)


class Direction(NamedTuple):
    """One direction's declared labels; `key` (rx, tx) begins their metrics."""

    key: str
    bits: Metric
    usage: Metric
    packets: Metric
    errors: Metric
    drops: Metric
    errors_pct: Metric
    drops_pct: Metric
    cumulative_bytes: Metric
    total_bits: Metric


def _direction(key: str, verb: str, noun: str) -> Direction:
    def field(name: str) -> Field:
        return Field(f"{key}_{name}", f"{key} {name}")

    bytes_, packets, errors, drops = (field(name) for name in
                                      ("bytes", "packets", "errors", "drops"))
    limit = Limit(Field(f"{key}_limit_bps", f"{key} bandwidth limit"), human_bits)
    words = f"{{device}} {key} "
    bits = _per_nic(f"{key}_bits_per_second", "", f"bits the guest {verb} per second "
                    "(a headline)", Rate(bytes_, BITS_PER_BYTE), Wording(words, "", human_bits),
                    headline=True, maximum=limit)
    return Direction(
        key,
        bits=bits,
        usage=_per_nic(f"{key}_usage", "%", f"{key} bits per second in percent of --speed "
                       "or of the interface's bandwidth limit",
                       ShareOfLimit(bits.value, limit, NO_LINK_SPEED % key),
                       Wording(words, "% of {limit}"), maximum=100),
        packets=_per_nic(f"{key}_packets_per_second", "", f"packets the guest {verb} per "
                         "second", Rate(packets), Wording(words, " packets/s")),
        errors=_per_nic(f"{key}_errors_per_second", "", f"{noun} errors per second",
                        Rate(errors), Wording(f"{words}errors ", "/s"), spare=COUNTS),
        drops=_per_nic(f"{key}_drops_per_second", "", f"{noun} drops per second",
                       Rate(drops), Wording(f"{words}drops ", "/s"), spare=COUNTS),
        errors_pct=_per_nic(f"{key}_errors_pct", "%", f"{noun} errors, percent of packets "
                            "+ errors (0 when neither)", LostShare(errors, packets),
                            Wording(f"{words}errors ", "%"), spare=LOSS_SHARES, maximum=100),
        drops_pct=_per_nic(f"{key}_drops_pct", "%", f"{noun} drops, percent of packets + "
                           "drops (0 when neither)", LostShare(drops, packets),
                           Wording(f"{words}drops ", "%"), spare=LOSS_SHARES, maximum=100),
        cumulative_bytes=_per_nic(f"{key}_bytes", "c", f"bytes the guest {verb} (cumulative)",
                                  Reported(bytes_), Wording(words, " in all", human_bytes),
                                  spare=CUMULATIVE),
        total_bits=Metric(LabelSpec(f"total_{key}_bits_per_second", "", f"all interfaces: "
                                    f"bits the guest {verb} per second"), TotalOf(bits),
                          Wording(f"all interfaces {key} ", "", human_bits)))


RX = _direction("rx", "received", "receive")
TX = _direction("tx", "sent", "transmit")
DIRECTIONS = (RX, TX)

PER_NIC = tuple(getattr(direction, field)
                for field in ("bits", "usage", "packets", "errors", "drops", "errors_pct",
                              "drops_pct", "cumulative_bytes")
                for direction in DIRECTIONS)
TOTALS = tuple(direction.total_bits for direction in DIRECTIONS)


def speed(text: str) -> float:
    """--speed: a link speed in bits per second, with unit suffixes (1G, 100M)."""
    try:
        value = parse_number(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive speed")
    return value


def _answers_to(nic: NicSample) -> set[str]:
    return {name for name in (nic.name, (nic.mac or "").lower()) if name}


def _lowercase_macs(values: Sequence[str]) -> list[str]:
    # MACs match whatever case the user types them in.
    return [value.lower() if _MAC.match(value) else value for value in values]


class NicOptions(NamedTuple):
    """The NIC check's own options: the interfaces named and left out, the link speed."""

    interface: Sequence[str]
    exclude_interface: Sequence[str]
    speed: Optional[float]


class NicCheck(DeviceCheck):
    """The NIC check: per-interface rates both ways, losses, utilisation and totals."""

    name = "nic"
    description = ("Network traffic of a KVM/QEMU domain per interface (bits, packets, "
                   "errors and drops both ways, utilisation), measured from the hypervisor "
                   "through libvirt. rx is what the guest received, tx what it sent.")
    groups = frozenset({Group.NIC})
    kind = NIC_KIND
    noun = "interface"
    per_device = PER_NIC
    totals = TOTALS
    Options = NicOptions

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """--interface, --exclude-interface and --speed."""
        add_selection_options(parser, "interface", "NAME|MAC",
                              "report only this interface (target name such as vnet0, "
                              "or MAC address; repeatable)")
        parser.add_argument("--speed", type=speed, default=None, metavar="BITS",
                            help="link speed in bits per second (e.g. 100M, 1G, 10G), "
                                 "each direction: adds <nic>_rx_usage and <nic>_tx_usage "
                                 "in percent of it (default: the interface's <bandwidth> "
                                 "limit in the domain XML, where it has one)")

    def sample_fields(self) -> frozenset[str]:
        """An interface's fields."""
        return frozenset(NicSample._fields)

    def devices_of(self, sample: DomainSample) -> Sequence[NicSample]:
        """The domain's interfaces."""
        return sample.nics

    def selection(self, options: NicOptions) -> Selection:
        """--interface and --exclude-interface, MACs in any case."""
        return Selection("interface", _lowercase_macs(options.interface),
                         _lowercase_macs(options.exclude_interface))

    def answers_to(self, device: NicSample) -> set[str]:
        """An interface answers to its target name and its MAC address."""
        return _answers_to(device)

    def skipped_by_default(self, device: NicSample) -> bool:
        """An interface without statistics is never reported unless named."""
        return not self.has_statistics(device)

    def reported(self, sample: DomainSample, options: NicOptions) -> list[NicSample]:
        """The chosen interfaces that have statistics."""
        return [nic for nic in self.selected(sample, options) if self.has_statistics(nic)]

    def limit(self, options: NicOptions) -> Optional[float]:
        """--speed, where given."""
        return options.speed

    def condition(self, measurement: Measurement, options: NicOptions) -> Optional[Condition]:
        """UNKNOWN, and why, when no reported interface has counters to measure."""
        nics = measurement.sample.nics
        if self.reported(measurement.sample, options):
            return None
        if not nics:
            return Condition(Unknown, "the domain has no network interfaces")
        if any(self.has_statistics(nic) for nic in nics):
            return Condition(Unknown, "no interface left to report (see --interface and "
                                      "--exclude-interface)")
        return Condition(Unknown, "no interface has traffic statistics (one without a "
                                  "host-side device, such as user-mode networking, has none)")

    def ok_text(self, measurement: Measurement, readings: list[Reading]) -> str:
        """One calm line: how many interfaces, bits both ways, the busiest interface."""
        traffic: dict[str, float] = {}
        for reading in readings:
            if reading.spec in (RX.bits.spec, TX.bits.spec) and reading.device is not None:
                traffic[reading.device] = traffic.get(reading.device, 0.0) + reading.value
        if not traffic:
            return "no traffic rates this run (counters were reset during it)"
        totals = {reading.spec: reading.value for reading in readings if reading.device is None}
        busiest = max(traffic, key=traffic.__getitem__)
        count = len(traffic)
        return (f"{count} interface{'s' if count != 1 else ''}: "
                f"rx {human_bits(totals.get(RX.total_bits.spec, 0.0))}, "
                f"tx {human_bits(totals.get(TX.total_bits.spec, 0.0))} (busiest {busiest})")

    def details(self, measurement: Measurement, options: NicOptions) -> list[str]:
        """With -v: every interface, with its MAC and source, and what is reported of it."""
        chosen = [id(nic) for nic in self.selected(measurement.sample, options)]
        lines = [self._describe(nic, id(nic) in chosen) for nic in measurement.sample.nics]
        if options.speed:
            lines.append(f"usage in percent of --speed {human_bits(options.speed)} each way")
        return lines

    def why_left_out(self, device: NicSample, options: NicOptions) -> str:
        """Why an interface of the domain is not reported."""
        if not self.has_statistics(device):
            return f"interface {device.name} has no traffic statistics"
        if _answers_to(device) & set(_lowercase_macs(options.exclude_interface)):
            return f"--exclude-interface leaves interface {device.name} out"
        return (f"interface {device.name} is not among the interfaces --interface names "
                f"({', '.join(options.interface)})")

    def _describe(self, nic: NicSample, chosen: bool) -> str:
        name = nic.name or "without host-side device"
        line = f"interface {name}: mac {nic.mac or 'unknown'}, source {nic.source or 'none'}"
        if nic.rx_limit_bps or nic.tx_limit_bps:
            line += (f", bandwidth limit rx {_limit_text(nic.rx_limit_bps)}, "
                     f"tx {_limit_text(nic.tx_limit_bps)}")
        if not self.has_statistics(nic):
            return line + ": no statistics available"
        return line + ("" if chosen else " (not reported)")


def _limit_text(limit: Optional[float]) -> str:
    return human_bits(limit) if limit else "none"


CHECK = NicCheck()
