"""The contract between a check and the runtime: every hook, with its default.

A check module defines a subclass of `Check` and one instance of it, `CHECK`,
which the registry (libcheck/registry.py) names.  The runtime calls only the
hooks declared here.  A check's own options are read once per run into its
`Options` (a NamedTuple whose fields are argparse destinations), so the hooks
get typed values, never the parser's namespace.
"""

from __future__ import annotations

import argparse

from libcheck.evaluation import Condition, Reading
from libcheck.measure import Measurement
from libcheck.metrics import Metric, specs_of
from libcheck.rates import Counters
from libcheck.records import NamedTuple
from libcheck.registry import VM_SCOPE
from libcheck.samples import DomainSample, Group
from libcheck.thresholds import LabelSpec, Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Sequence, TypeVar

    Part = TypeVar("Part")


def declared_part(part: Optional[Part], group: Group) -> Part:
    """The part of a sample for a group the check declares (`Check.groups`): the
    sampler reads every declared group, so only a bug leaves it out."""
    if part is None:
        raise AssertionError(f"the sample has no {group.value} statistics, "
                             "which the check declares")
    return part


class NoOptions(NamedTuple):
    """A check without options of its own."""


class CheckDefinition:
    """What every check declares, of a VM or of a hypervisor: its name (the
    registry's), its --help text, its labels (in the order --help lists them)
    and its own options, read once per run into its `Options`."""

    name: str
    description: str
    metrics: Sequence[Metric]
    Options: type[NamedTuple] = NoOptions
    # What it checks, as the registry says: one VM, or a hypervisor.
    scope: str = VM_SCOPE

    @property
    def title(self) -> str:
        """The first word of the status line: VM_CPU."""
        return f"VM_{self.name.upper()}"

    @property
    def specs(self) -> tuple[LabelSpec, ...]:
        """The perfdata labels, from the declared metrics."""
        return specs_of(self.metrics)

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """Add the check's own options to its parser (none by default)."""

    def read_options(self, namespace: argparse.Namespace) -> Any:
        """The check's own options of one run, typed: its `Options` from the namespace."""
        fields = {field: getattr(namespace, field) for field in self.Options._fields}
        # typing's NamedTuple has the signature of the factory, not of a record class.
        return self.Options(**fields)  # type: ignore[call-overload]


class Check(CheckDefinition):
    """One check of a VM: what it reads, the labels it declares, and how it judges a run.

    Subclasses set `name`, `description`, `metrics` and `Options`
    (`CheckDefinition`) and `groups` (the statistics it needs), and implement
    the hooks without a default.
    """

    groups: frozenset[Group]

    def sample_fields(self) -> frozenset[str]:
        """The names of every field the check's samples carry: each field a
        declared metric needs must be among them (a test holds them to it)."""
        raise NotImplementedError

    def counters(self, sample: DomainSample) -> Counters:
        """The cumulative counters to keep between runs, by group (device)."""
        raise NotImplementedError

    def devices(self, sample: DomainSample) -> dict[str, list[str]]:
        """The devices a threshold label may name, by kind (none by default)."""
        return {}

    def readings(self, measurement: Measurement, options: Any) -> list[Reading]:
        """The values of the run, to judge and to print."""
        raise NotImplementedError

    def ok_text(self, measurement: Measurement, readings: list[Reading]) -> str:
        """The status line when nothing is wrong."""
        raise NotImplementedError

    def details(self, measurement: Measurement, options: Any) -> list[str]:
        """More lines for -v (none by default)."""
        return []

    def unmeasured_reason(self, measurement: Measurement, options: Any,
                          target: Target) -> Optional[str]:
        """Why a label has no value in this run, None where the check does not know."""
        return None

    def condition(self, measurement: Measurement, options: Any) -> Optional[Condition]:
        """A state the check imposes beside the thresholds, None when there is none."""
        return None
