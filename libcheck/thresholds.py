"""Nagios threshold ranges, unit suffixes and LABEL=RANGE thresholds.

A threshold is either a bare range (it applies to the check's headline
metric) or LABEL=RANGE for any perfdata label.  Per-device metrics have two
labels: the device's own (`vda_read_latency`) and the generic one for every
device of that kind (`disk_read_latency`); the device's own wins.  Every
threshold must judge at least one reading of a run: `unjudged` names those
that judge none (the label was not measured, for a reason the check knows).

Numbers may end in a unit suffix: k/K, M, G, T, P multiply by powers of
1000, Ki, Mi, Gi, Ti, Pi by powers of 1024 (`1.5G` = 1500000000,
`512Mi` = 536870912).
"""

from __future__ import annotations

import math
import re

from nagiosplugin import Range

from libcheck.errors import UsageError
from libcheck.records import NamedTuple
from libcheck.units import exact

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Mapping, Optional

_MULTIPLIERS = {
    "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "P": 1000**5,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5,
}
_NUMBER = r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([kKMGTP]i?)?$"
_LABEL = r"^[^=\s]+$"


def parse_number(text: str) -> float:
    """A decimal number with an optional unit suffix, as a finite number."""
    match = re.match(_NUMBER, text)
    if not match or (match.group(2) == "ki"):
        raise UsageError(f"'{text}' is not a number (e.g. 80, 2.5, 100M, 1Gi)")
    digits, suffix = match.groups()
    value = _scaled(digits, suffix) if suffix else float(digits)
    if not math.isfinite(value) or abs(value) > 1e300:
        raise UsageError(f"'{text}' is too large a number")
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def _scaled(digits: str, suffix: str) -> float:
    """`digits` times the suffix's multiplier, in decimal, so that 2.01k is 2010
    and prints so, not 2009.9999999999998."""
    # Imported here: decimal costs every run a millisecond, and most thresholds
    # have no suffix.
    import decimal

    # Digits enough for any float, and no exponent a command line can reach.
    exact = decimal.Context(prec=40, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
    with decimal.localcontext(exact):
        return float(decimal.Decimal(digits) * _MULTIPLIERS[suffix])


def parse_range(text: str) -> Range:
    """A Nagios range (`10`, `10:`, `~:10`, `10:20`, `@10:20`) with unit suffixes."""
    spec = text.strip()
    invert = spec.startswith("@")
    body = spec[1:] if invert else spec
    if not body or body.count(":") > 1:
        raise UsageError(f"'{text}' is not a range (e.g. 90, 10:, ~:5, 10:20, @10:20)")
    start_text, end_text = body.split(":") if ":" in body else ("", body)
    if start_text == "" and end_text == "":
        raise UsageError(f"'{text}' is not a range (e.g. 90, 10:, ~:5, 10:20, @10:20)")
    start = float("-inf") if start_text == "~" else parse_number(start_text) if start_text else 0
    end = parse_number(end_text) if end_text else float("inf")
    if start > end:
        raise UsageError(f"range '{text}': start {start_text or 0} is greater than end {end_text}")
    # _make builds the tuple directly: no round trip through text, whose
    # exponent notation (1e-05) nagiosplugin's own parser cannot read.
    return Range._make((invert, start, end))


def format_range(threshold: Optional[Range]) -> str:
    """A range as perfdata and status lines show it (`10`, `10:`, `~:10`, `@10:20`), each
    end exact: integers without `.0`, 1e-21 as 0.000000000000000000001."""
    if threshold is None:
        return ""
    parts = ["@" if threshold.invert else ""]
    if threshold.start == float("-inf"):
        parts.append("~:")
    elif threshold.start != 0 or threshold.end == float("inf"):
        parts.append(f"{exact(threshold.start)}:")
    if threshold.end != float("inf"):
        parts.append(exact(threshold.end))
    return "".join(parts)


def violation(threshold: Range, value: float) -> str:
    """Why `value` is outside `threshold`, as a status line says it: `> 90`."""
    if threshold.invert:
        return f"inside {format_range(Range._make((False, threshold.start, threshold.end)))}"
    if value > threshold.end:
        return f"> {exact(threshold.end)}"
    return f"< {exact(threshold.start)}"


class LabelSpec(NamedTuple):
    """One perfdata metric a check emits: its name, unit and meaning.

    Domain-wide metrics (`kind` None) have one label, `metric`.  Per-device
    metrics have `<device>_<metric>` per device and `<kind>_<metric>` for all.
    `spare`: when the perfdata of many devices must be trimmed to fit a
    plugin's output, per-device labels of rank 1 go first, then rank 2...;
    0 never goes.
    """

    metric: str
    uom: str
    meaning: str
    kind: Optional[str] = None
    headline: bool = False
    spare: int = 0

    @property
    def generic_label(self) -> str:
        """The label that sets a threshold for the metric (on every device)."""
        return f"{self.kind}_{self.metric}" if self.kind else self.metric

    @property
    def pattern(self) -> str:
        """How the label reads in documentation: `<disk>_read_bytes`, `cpu_usage`."""
        return f"<{self.kind}>_{self.metric}" if self.kind else self.metric

    def label_for(self, device: Optional[str] = None) -> str:
        """The perfdata label of this metric (for one device, by its label name)."""
        if not self.kind:
            return self.metric
        if device is None:
            raise ValueError(f"{self.metric} is a per-device metric: its label needs a device")
        return f"{device_label(device)}_{self.metric}"


# The kinds of device a label may belong to (`LabelSpec.kind`); each kind also
# begins the generic labels of its metrics (`disk_read_latency`).
DISK_KIND, NIC_KIND, VCPU_KIND, POOL_KIND = "disk", "nic", "vcpu", "pool"
DEVICE_KINDS = frozenset({DISK_KIND, NIC_KIND, VCPU_KIND, POOL_KIND})
# Words that begin labels of their own: `total_...` and the generic ones.
_RESERVED_LABELS = DEVICE_KINDS | {"total"}
_LABEL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def device_label(name: str) -> str:
    """A device's name as it stands in perfdata labels: letters, digits and `-`
    as they are, `_` doubled, and any other character as `_` and the hex of
    each of its UTF-8 bytes (`eth0.100` -> `eth0_2e100`).

    Graphite and Icinga Web's graphite module take `.`, `/`, `\\`, `::`, spaces,
    brackets, `$` and `#` apart; this keeps them out, and two names never
    share a label.  A device named like the words that begin the totals' and
    generic labels (`total`, `disk`...) has its first letter spelled in hex.
    """
    if name in _RESERVED_LABELS:
        # The totals' and generic labels' own words: spelled out, never shared.
        return f"_{ord(name[0]):02x}{name[1:]}"
    if all(char in _LABEL_SAFE for char in name):
        return name
    return "".join(char if char in _LABEL_SAFE else "__" if char == "_" else
                   "".join(f"_{byte:02x}" for byte in char.encode("utf-8", "surrogateescape"))
                   for char in name)


class Target(NamedTuple):
    """What a threshold may name: a metric, on one device or (None) on every one."""

    spec: LabelSpec
    device: Optional[str] = None


class Thresholds:
    """The -w/-c thresholds of one run, resolved per perfdata label."""

    def __init__(self, specs: Iterable[LabelSpec], warnings: Iterable[str] = (),
                 criticals: Iterable[str] = (), aliases: Mapping[str, str] = {}) -> None:
        self._specs = tuple(specs)
        self._generic = {spec.generic_label: spec for spec in self._specs}
        self._aliases = aliases
        self._warning = self._parse_all(warnings, "-w")
        self._critical = self._parse_all(criticals, "-c")

    def _parse_all(self, texts: Iterable[str], option: str) -> dict[Optional[str], Range]:
        parsed: dict[Optional[str], Range] = {}
        for text in texts:
            label, threshold = self._parse_one(text, option)
            if label in parsed:
                raise UsageError(f"{option} '{text}': {option} for "
                                 f"{label or 'the headline'} is given twice")
            parsed[label] = threshold
        return parsed

    def _parse_one(self, text: str, option: str) -> tuple[Optional[str], Range]:
        if "=" not in text:
            return None, self._range(text, option, "")
        label, range_text = text.split("=", 1)
        label = self._aliases.get(label, label)
        if not re.match(_LABEL, label):
            raise UsageError(f"{option} '{text}': a label before '=' is missing or has spaces")
        if label not in self._generic and not self._device_candidates(label):
            raise UsageError(f"{option} '{text}': unknown label '{label}' "
                             f"(known: {', '.join(self.known_labels())})")
        return label, self._range(range_text, option, f"{label}=")

    @staticmethod
    def _range(text: str, option: str, prefix: str) -> Range:
        try:
            return parse_range(text)
        except UsageError as error:
            raise UsageError(f"{option} '{prefix}{text}': {error}") from None

    def _device_candidates(self, label: str) -> list[Target]:
        # The longest metric first: vda_read_ops_per_second is read_ops_per_second
        # of vda before it is ops_per_second of a device named vda_read.
        return [Target(spec, label[: -len(spec.metric) - 1])
                for spec in sorted(self._specs, key=lambda spec: -len(spec.metric))
                if spec.kind and label.endswith(f"_{spec.metric}")
                and len(label) > len(spec.metric) + 1]

    def targets(self, label: Optional[str]) -> list[Target]:
        """What a threshold's label may name, the likeliest first (None: the headline)."""
        if label is None:
            return [Target(spec) for spec in self._specs if spec.headline]
        if label in self._generic:
            return [Target(self._generic[label])]
        return self._device_candidates(label)

    def known_labels(self) -> list[str]:
        """The generic labels, and the pattern of the per-device ones."""
        names = [spec.generic_label for spec in self._specs]
        names += [spec.pattern for spec in self._specs if spec.kind]
        return names

    def check_devices(self, devices: Mapping[str, Iterable[str]], owner: str = "domain") -> None:
        """Refuse a per-device label whose device the domain (`owner`) does not have."""
        present: dict[Optional[str], set[str]] = {
            kind: {device_label(name) for name in names} for kind, names in devices.items()}
        for label in self._labels_set():
            if label is None or label in self._generic:
                continue
            candidates = self._device_candidates(label)
            if not any(c.device in present.get(c.spec.kind, ()) for c in candidates):
                kinds = sorted({c.spec.kind for c in candidates if c.spec.kind})
                device = candidates[0].device
                have = sorted(set().union(*(present.get(kind, set()) for kind in kinds)))
                raise UsageError(f"threshold label '{label}': this {owner} has no "
                                 f"{'/'.join(kinds)} '{device}' (it has: "
                                 f"{', '.join(have) or 'none'})")

    def _labels_set(self) -> set[Optional[str]]:
        return set(self._warning) | set(self._critical)

    def unjudged(self, judged: Iterable[tuple[LabelSpec, str]]) -> list[Optional[str]]:
        """The thresholds' labels that judge none of the (spec, label) readings
        given, in the order the options gave them (None: a bare range)."""
        matched: set[Optional[str]] = set()
        for spec, label in judged:
            matched.update((label, spec.generic_label))
            if spec.headline:
                matched.add(None)
        given = dict.fromkeys([*self._warning, *self._critical])
        return [label for label in given if label not in matched]

    def options_for(self, label: Optional[str]) -> str:
        """How the command line set a label's thresholds: `-w/-c cpu_steal`, `-c 90`."""
        options = "/".join(option for option, table in (("-w", self._warning),
                                                        ("-c", self._critical))
                           if label in table)
        if label is not None:
            return f"{options} {label}"
        ranges = [format_range(table[None]) for table in (self._warning, self._critical)
                  if None in table]
        return f"{options} {'/'.join(ranges)}"

    def ranges_for(self, spec: LabelSpec, label: str) -> tuple[Optional[Range], Optional[Range]]:
        """The warning and critical ranges for one emitted label."""
        return (self._lookup(self._warning, spec, label),
                self._lookup(self._critical, spec, label))

    @staticmethod
    def _lookup(table: dict[Optional[str], Range], spec: LabelSpec,
                label: str) -> Optional[Range]:
        for key in (label, spec.generic_label):
            if key in table:
                return table[key]
        return table.get(None) if spec.headline else None
