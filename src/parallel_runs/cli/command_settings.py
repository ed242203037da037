"""`CommandSettings`: the base of a command's settings, a frozen NamedTuple that `--help` pays nothing for.

typing.NamedTuple would import typing at `--help` (some 5 ms of a start-up held to 3x python's,
bench/startup.py), and a dataclass inspect too; collections is loaded anyway. Type checkers see
typing.NamedTuple itself, so they check the fields and the calls exactly as for one.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as CommandSettings
else:

    class _SettingsType(type):
        """`class S(CommandSettings): field: T = default` becomes `collections.namedtuple("S", ...)`."""

        def __new__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
            if not bases:  # CommandSettings itself
                return super().__new__(cls, name, bases, namespace)
            fields = tuple(namespace.get("__annotations__", {}))
            defaults = [namespace[field] for field in fields if field in namespace]
            if any(field not in namespace for field in fields[len(fields) - len(defaults) :]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            record = namedtuple(name, fields, defaults=defaults, module=str(namespace["__module__"]))
            for key, value in namespace.items():  # the docstring, methods and properties
                if key not in fields and key not in ("__annotations__", "__module__", "__qualname__"):
                    setattr(record, key, value)
            return record

    class CommandSettings(metaclass=_SettingsType):
        """Subclass it with annotated fields (defaults last), as typing.NamedTuple."""


__all__ = ["CommandSettings"]
