"""``Frozen``: the base of the SDK's small immutable value classes.

``Options``, ``ConsentRecord``, ``SealSuite`` and ``ProjectPublicKey`` are read on every
``crashveil.init()``; as frozen dataclasses they would import ``dataclasses`` (and with it
``inspect``), which would be most of what ``init()`` costs. This base gives plain
``__slots__`` classes what those dataclasses gave: keyword or positional construction,
immutability (``dataclasses.FrozenInstanceError``, imported only when raised), equality and
hash by value, a repr, and copy/pickle.
"""

from __future__ import annotations

__all__ = ["Frozen"]


class Frozen:
    """Immutable, compared and hashed by the values of ``__slots__``, in that order.

    Subclasses list their fields in ``__slots__`` and may name fields to leave out of the
    repr in ``_hidden``. A subclass that holds unhashable values sets ``__hash__ = None``.
    """

    __slots__: tuple[str, ...] = ()
    _hidden: tuple[str, ...] = ()  # left out of the repr

    def __init__(self, *args: object, **kwargs: object) -> None:
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments")
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{type(self).__name__}() got an unexpected or repeated argument {name!r}")
            values[name] = value
        missing = [name for name in names if name not in values]
        if missing:
            raise TypeError(f"{type(self).__name__}() missing argument {missing[0]!r}")
        for name in names:
            object.__setattr__(self, name, values[name])

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name not in self._hidden)
        return f"{type(self).__name__}({shown})"

    def __setattr__(self, name: str, value: object) -> None:
        from dataclasses import FrozenInstanceError  # what the frozen dataclasses raised

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), self._values())
