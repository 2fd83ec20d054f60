"""Choosing the devices a per-device check reports, from the command line.

`--disk vda --disk vdb` (or `--interface`) names the devices to report,
`--exclude-disk` the ones to leave out; devices a check skips by default
(a cdrom, an interface without a host-side device) are reported only when
named.  Naming a device the domain does not have is a usage error.
"""

from __future__ import annotations

import argparse

from libcheck.errors import UsageError
from libcheck.records import NamedTuple
from libcheck.thresholds import device_label

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable, Optional, Protocol, Sequence, TypeVar

    Device = TypeVar("Device")

    class Named(Protocol):
        """A device as a per-device label knows it: by its name (None: it has none)."""

        @property
        def name(self) -> Optional[str]: ...

    NamedDevice = TypeVar("NamedDevice", bound=Named)


def add_selection_options(parser: argparse.ArgumentParser, kind: str, metavar: str,
                          include_help: str) -> None:
    """--KIND (report only these) and --exclude-KIND (leave these out), repeatable."""
    parser.add_argument(f"--{kind}", action="append", default=[], metavar=metavar,
                        help=include_help)
    parser.add_argument(f"--exclude-{kind}", action="append", default=[], metavar=metavar,
                        help=f"leave this {kind} out (repeatable)")


class Selection(NamedTuple):
    """Which devices to report: named ones (or all), minus excluded ones."""

    kind: str
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()

    def choose(self, devices: Iterable[Device], names: Callable[[Device], set[str]],
               skipped_by_default: Callable[[Device], bool]) -> list[Device]:
        """The devices to report, in the domain's order.

        `names` gives every name a device answers to (its target, its MAC...).
        """
        devices = list(devices)
        known = set().union(*(names(device) for device in devices)) if devices else set()
        self._refuse_unknown(known)
        chosen = [device for device in devices
                  if (names(device) & set(self.include) if self.include
                      else not skipped_by_default(device))]
        return [device for device in chosen if not names(device) & set(self.exclude)]

    def _refuse_unknown(self, known: set[str]) -> None:
        for option, wanted in (("", self.include), ("exclude-", self.exclude)):
            unknown = [name for name in wanted if name not in known]
            if unknown:
                have = ", ".join(sorted(known)) or "none"
                raise UsageError(f"--{option}{self.kind} {unknown[0]}: this domain has no "
                                 f"such {self.kind} (it has: {have})")


def nothing_to_report(kind: str, chosen: Sequence[str], lacking: str) -> str:
    """Why none of the chosen devices is reported while others could be.

    Either the chosen ones (named, or left by the exclusions) lack what is
    measured, which `lacking` says ("no I/O statistics..."), or the
    selection left none at all.
    """
    if not chosen:
        return f"no {kind} left to report (see --{kind} and --exclude-{kind})"
    verb = "has" if len(chosen) == 1 else "have"
    return f"{kind} {', '.join(chosen)} {verb} {lacking}"


def device_label_reason(device_label_name: Optional[str], chosen: Sequence[NamedDevice],
                        devices: Iterable[NamedDevice],
                        why_unmeasured: Callable[[NamedDevice], Optional[str]],
                        why_left_out: Callable[[NamedDevice], str]) -> Optional[str]:
    """Why a per-device label has no value in a run, or None where unknown.

    A generic label (`device_label_name` None): the reasons of every chosen
    device, each once.  A device's own label (its name as labels spell it):
    why that device was left out, or why it lacks the value.
    """
    if device_label_name is None:
        reasons = dict.fromkeys(why_unmeasured(device) for device in chosen)
        return "; ".join(reason for reason in reasons if reason) or None
    device = next((device for device in devices
                   if device.name is not None and device_label(device.name) == device_label_name),
                  None)
    if device is None:
        return None
    return why_unmeasured(device) if device in chosen else why_left_out(device)
