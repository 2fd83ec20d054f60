"""The library's records behave as typing's NamedTuple does where the code relies on it,
and its digests are hashlib's."""

from __future__ import annotations

import copy
import hashlib
import pickle

import pytest

from libcheck.digests import sha256_hex
from libcheck.records import NamedTuple


class Point(NamedTuple):
    """A record with a default and a method."""

    x: int
    y: int
    label: str = "origin"

    def moved(self, by: int) -> Point:
        return self._replace(x=self.x + by)


class LabelledPoint(Point):
    """A subclass that adds a method only: it keeps its parent's fields."""

    def shout(self) -> str:
        return self.label.upper()


def test_a_record_is_built_by_position_keyword_and_default():
    assert Point(1, 2) == Point(x=1, y=2) == Point(1, y=2, label="origin") == (1, 2, "origin")
    assert Point(1, 2, "p").label == "p"
    assert Point._fields == ("x", "y", "label")
    assert Point._field_defaults == {"label": "origin"}


@pytest.mark.parametrize(("args", "kwargs", "words"), [
    ((1,), {}, "missing the argument 'y'"),
    ((1, 2, "a", 4), {}, "takes 3 arguments, 4 given"),
    ((1, 2), {"z": 3}, "unexpected argument 'z'"),
])
def test_a_record_refuses_wrong_arguments(args, kwargs, words):
    with pytest.raises(TypeError, match=words):
        Point(*args, **kwargs)


def test_a_record_is_an_immutable_tuple():
    point = Point(1, 2)
    x, y, label = point
    assert (x, y, label, point[1], len(point)) == (1, 2, "origin", 2, 3)
    with pytest.raises(AttributeError):
        point.x = 5  # type: ignore[misc]
    assert hash(point) == hash((1, 2, "origin"))
    assert {point: 1}[Point(1, 2)] == 1


def test_replace_asdict_repr_and_methods():
    point = Point(1, 2)
    assert point.moved(3) == Point(4, 2) and type(point.moved(3)) is Point
    assert point._asdict() == {"x": 1, "y": 2, "label": "origin"}
    assert repr(point) == "Point(x=1, y=2, label='origin')"
    with pytest.raises(ValueError, match="no field 'z'"):
        point._replace(z=1)  # type: ignore[call-arg]
    assert Point._make([5, 6, "m"]) == Point(5, 6, "m")


def test_a_subclass_with_methods_only_keeps_the_fields():
    point = LabelledPoint(1, 2, "here")
    assert (point.label, point.shout(), LabelledPoint._fields) == ("here", "HERE", Point._fields)


def test_a_record_survives_copy_and_pickle():
    point = Point(1, 2, "p")
    assert copy.copy(point) == copy.deepcopy(point) == point
    assert pickle.loads(pickle.dumps(point)) == point
    assert type(copy.deepcopy(point)) is Point


def test_the_digest_is_hashlibs_sha256():
    for data in (b"", b"qemu:///system\0uuid\0cpu", bytes(range(256)) * 9):
        assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
