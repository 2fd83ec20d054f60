"""Every registered check keeps the contract of libcheck/checkbase.py.

Its name is the registry's, its labels are declared metrics whose fields
exist in its samples and have words for a reason, its device kinds are the
known ones, its typed options are destinations of its parser, and the
runtime can run it on the test driver.
"""

from __future__ import annotations

import argparse
import io

import pytest

from libcheck import cli, registry
from libcheck.checkbase import Check
from libcheck.metrics import Metric, TotalOf
from libcheck.perdevice import DeviceCheck
from libcheck.runtime import Run
from libcheck.thresholds import DEVICE_KINDS

ENTRIES = [pytest.param(entry, id=entry.name) for entry in registry.CHECKS]
PER_DEVICE = [pytest.param(entry, id=entry.name) for entry in registry.CHECKS
              if isinstance(entry.load(), DeviceCheck)]


def every_metric(check: Check) -> list[Metric]:
    """The declared metrics, and the parts that totals sum."""
    metrics = list(check.metrics)
    return metrics + [metric.value.part for metric in metrics
                      if isinstance(metric.value, TotalOf)]


@pytest.mark.parametrize("entry", ENTRIES)
def test_the_check_is_the_one_its_entry_names(entry):
    check = entry.load()
    assert isinstance(check, Check)
    assert (check.name, check.title) == (entry.name, entry.title)
    assert cli.check_parser(check).prog == entry.executable


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_field_a_label_needs_exists_in_the_samples_and_has_words(entry):
    check = entry.load()
    known = check.sample_fields()
    for metric in every_metric(check):
        assert metric.needs, f"{metric.spec.metric} needs no field: how can it be absent?"
        for field in metric.needs:
            assert field.name in known, (f"{entry.name}: {metric.spec.metric} needs "
                                         f"'{field.name}', which no sample carries")
            assert field.words.strip(), f"{entry.name}: field '{field.name}' has no words"


@pytest.mark.parametrize("entry", ENTRIES)
def test_labels_are_declared_once_with_a_known_kind(entry):
    check = entry.load()
    labels = [spec.generic_label for spec in check.specs]
    assert len(labels) == len(set(labels)), f"{entry.name} declares a label twice"
    assert check.specs == tuple(metric.spec for metric in check.metrics)
    for spec in check.specs:
        assert spec.kind is None or spec.kind in DEVICE_KINDS
    assert sum(spec.headline for spec in check.specs) >= 1


def test_disk_and_nic_share_the_per_device_base():
    assert {entry.values[0].name for entry in PER_DEVICE} >= {"disk_io", "nic"}


@pytest.mark.parametrize("entry", PER_DEVICE)
def test_a_per_device_check_declares_its_kind_on_every_device_label(entry):
    check = entry.load()
    assert check.kind in DEVICE_KINDS
    assert {metric.spec.kind for metric in check.per_device} == {check.kind}
    assert {metric.spec.kind for metric in check.totals} == {None}
    assert all(isinstance(metric.value, TotalOf) for metric in check.totals)


@pytest.mark.parametrize("entry", ENTRIES)
def test_typed_options_are_destinations_of_the_parser(entry):
    check = entry.load()
    parser = cli.check_parser(check)
    destinations = {action.dest for action in parser._actions}
    assert set(check.Options._fields) <= destinations
    namespace = cli.parse(parser, ["--domain", "test"])
    options = check.read_options(namespace)
    assert isinstance(options, check.Options)


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_hook_is_implemented_or_has_its_default(entry):
    check = entry.load()
    for hook in ("counters", "readings", "ok_text", "sample_fields"):
        assert getattr(type(check), hook) is not getattr(Check, hook), (
            f"{entry.name} does not implement {hook}")


@pytest.mark.parametrize("entry", ENTRIES)
def test_the_runtime_runs_the_check_on_the_test_driver(entry, tmp_path):
    output = io.StringIO()
    code = Run(entry.load(), stream=output)(
        ["--connect", "test:///default", "--domain", "test", "--state-dir", str(tmp_path),
         "--state-if-no-balloon", "ok"] if entry.name == "mem" else
        ["--connect", "test:///default", "--domain", "test", "--state-dir", str(tmp_path)])
    first = output.getvalue().splitlines()[0]
    assert first.startswith(f"{entry.title} OK - test: "), first
    assert code == 0


def test_a_field_without_words_or_sample_is_caught():
    """The checks above can fail: a metric needing an unknown field is found."""
    from libcheck.disk import CHECK, Field, Rate, Wording, _per_disk

    bogus = _per_disk("bogus", "", "a label that needs what no disk has",
                      Rate(Field("no_such_counter", "")), Wording("{device} "))
    known = CHECK.sample_fields()
    assert any(field.name not in known or not field.words for field in bogus.needs)


def test_read_options_refuses_a_namespace_without_the_option():
    from libcheck.disk import CHECK

    with pytest.raises(AttributeError):
        CHECK.read_options(argparse.Namespace(disk=[]))
