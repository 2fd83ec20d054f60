"""Immutable records: typing's NamedTuple to the type checker, a lighter class at run time.

Every check run imports a few dozen record classes, and typing.NamedTuple
makes each through collections.namedtuple (code compiled per class) plus a
ForwardRef compiled per postponed annotation: 47 of them cost about 6 ms of
a snapshot hit whose budget is a few milliseconds.  This NamedTuple builds a
class from its annotations at almost no cost and behaves like typing's where
the library relies on it: a tuple of its fields in declared order, built by
position or keyword with defaults, `_fields`, `_field_defaults`,
`_replace`, `_asdict`, a readable repr, equality and hashing as tuples, and
fields that cannot be assigned.  A record's type stays typing's NamedTuple
for mypy, which checks every use as before.
"""

from __future__ import annotations

from operator import itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    class NamedTuple(tuple):
        """A tuple whose annotated class attributes name its fields."""

        __slots__ = ()
        _fields: tuple = ()
        _field_defaults: dict = {}

        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            # Since Python 3.10 a class's __annotations__ are its own, never its parent's.
            names = tuple(cls.__annotations__)
            if not names:
                return  # a subclass that adds methods only keeps its parent's fields
            cls._field_defaults = {name: cls.__dict__[name] for name in names
                                   if name in cls.__dict__}
            cls._fields = names
            for index, name in enumerate(names):
                setattr(cls, name, property(itemgetter(index), doc=f"Field {index}: {name}"))

        def __new__(cls, *args, **kwargs):
            if kwargs or len(args) != len(cls._fields):
                args = cls._values(args, kwargs)
            return tuple.__new__(cls, args)

        @classmethod
        def _values(cls, args, kwargs):
            """The fields' values from positional and keyword arguments and defaults."""
            fields = cls._fields
            if len(args) > len(fields):
                raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments, "
                                f"{len(args)} given")
            values = list(args)
            for name in fields[len(args):]:
                if name in kwargs:
                    values.append(kwargs.pop(name))
                elif name in cls._field_defaults:
                    values.append(cls._field_defaults[name])
                else:
                    raise TypeError(f"{cls.__name__}() is missing the argument {name!r}")
            if kwargs:
                raise TypeError(f"{cls.__name__}() got an unexpected argument "
                                f"{next(iter(kwargs))!r}")
            return values

        @classmethod
        def _make(cls, iterable):
            return cls(*iterable)

        def _replace(self, **changes):
            values = [changes.pop(name, value) for name, value in zip(self._fields, self)]
            if changes:
                raise ValueError(f"{type(self).__name__} has no field {next(iter(changes))!r}")
            return tuple.__new__(type(self), values)

        def _asdict(self):
            return dict(zip(self._fields, self))

        def __getnewargs__(self):
            return tuple(self)

        def __repr__(self):
            fields = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
            return f"{type(self).__name__}({fields})"
