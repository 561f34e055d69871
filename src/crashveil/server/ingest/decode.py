"""Fast server-side parsing of wire-format v1 reports: msgspec, then one generated pass.

``crashveil.wire.report.report_from_json`` is the definition of what a report is: a
generic converter that walks ``typing.get_type_hints`` and each field's ``spec`` metadata for
every value of every report. On the server that walk costs most of the parse. This module
keeps that definition and only adds a faster way to reach the same answer:

1. ``msgspec.json.decode`` turns the bytes into plain ``dict``/``list``/``str``/``int`` values
   in C. It is stricter than ``json.loads`` (no ``NaN``/``Infinity``, no lone surrogates, no
   BOM), never looser, and gives equal values for everything it accepts.
2. A validator/builder per dataclass, generated once at import from the same dataclass
   fields, type hints and ``spec`` metadata that drive ``parse_report``, checks each value in
   one pass and constructs the ``Report``.

Before both, a report with no unknown key is tried a third way, ~2x cheaper (a 30-frame
report: ~15 us instead of ~35, and no intermediate dicts): ``msgspec`` decodes it straight
into ``msgspec.Struct`` mirrors of the dataclasses, generated from the same hints and
``spec`` (lengths, ranges, item counts as ``msgspec.Meta``; unknown keys forbidden), in C;
generated code then checks the patterns and builds the dataclasses. Anything it does not
accept goes down the two steps above, so it too only ever accepts, and only what they would.

The fast path only ever *accepts*. Whenever it meets anything it would reject (bad JSON,
wrong type, too long, pattern, range, too deep, ...), the input goes to
``report_from_json`` unchanged, which raises the precise ``ReportError`` (same field path,
same code, same message) or, where ``json.loads`` is laxer than msgspec, accepts it. So
errors are identical by construction, and an accepted report is equal to the one
``report_from_json`` returns, with the same dropped paths in the same order
(``tests/server/ingest/test_report_decode.py`` checks both with hypothesis).

Server only: ``policy/`` and the SDK stay stdlib (DESIGN.md §4).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import msgspec

from crashveil.textsafe import find_unsafe
from crashveil.wire.report import LIMITS, Report, json_depth, report_from_json

__all__ = ["decode_report", "replace_fields"]

_MAX_BYTES = LIMITS["max_report_bytes"]
_MAX_DEPTH = LIMITS["max_depth"]
_json_decode = msgspec.json.Decoder().decode


class _Bail(Exception):
    """The fast path would reject: let ``report_from_json`` decide and explain.

    Private control flow (never leaves :func:`decode_report`), so not in ``crashveil.errors``."""


def decode_report(data: bytes | str, *, drop_unknown: bool = False) -> tuple[Report, tuple[str, ...]]:
    """Same contract and results as :func:`crashveil.wire.report.report_from_json`, faster."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) <= _MAX_BYTES:
        try:
            convert = _convert_plain_report if _plain_input(raw) else _convert_report
            return convert(_typed_decode(raw)), ()
        except Exception:  # noqa: BLE001 - msgspec errors, _Bail, UnicodeDecodeError: the next way
            pass
        try:
            value = _json_decode(raw)
        except Exception:  # noqa: BLE001 - msgspec errors, RecursionError, UnicodeDecodeError: fall back
            pass
        else:
            dropped: list[str] = []
            try:
                return _build_report(value, drop_unknown, dropped, "", 1), tuple(dropped)
            except _Bail:
                pass
    return report_from_json(raw, drop_unknown=drop_unknown)


# -- helpers the generated code calls (only on the rare paths) -----------------------------

def _unknown(data: dict[str, Any], known: frozenset[str], drop: bool, dropped: list[str], path: Any,
             depth: int) -> None:
    """Record the unknown keys of one object in input order, as ``report._build`` does."""
    if not drop:
        raise _Bail
    path = _render(path)
    room = _MAX_DEPTH - depth  # the object is at ``depth``; its values may nest this much
    for key, item in data.items():
        if key not in known:
            if json_depth(item, room) > room:
                raise _Bail
            name = key if isinstance(key, str) and len(key) <= 64 else "<key>"
            dropped.append(f"{path}.{name}" if path else name)


def _join(path: Any, key: str) -> str:
    path = _render(path)
    return f"{path}.{key}" if path else key


def _render(path: Any) -> str:
    """A path; list items pass ``(list path, index)`` so that it is only formatted when used."""
    if path.__class__ is tuple:
        return f"{path[0]}[{path[1]}]"
    return path


if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Dataclass = TypeVar("_Dataclass", bound="DataclassInstance")


def replace_fields(value: _Dataclass, **changes: object) -> _Dataclass:
    """``dataclasses.replace(value, **changes)`` (``changes`` name fields), ~2x faster for
    the wire format's plain dataclasses: the instance dict is copied, not re-validated."""
    cls = type(value)
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = _PLAIN[cls] = _plain_init(cls)
    if not plain:
        return dataclasses.replace(value, **changes)
    new: _Dataclass = object.__new__(cls)
    state = new.__dict__
    state.update(value.__dict__)
    state.update(changes)
    return new


_PLAIN: dict[type, bool] = {}


# -- code generation from the dataclasses --------------------------------------------------

def _construct(cls: type, fields: Any, values: list[str]) -> list[str]:
    """Generated lines that return a ``cls`` built from the variables ``values`` (one per field).

    For a plain frozen dataclass, what its ``__init__`` does (one ``object.__setattr__`` per
    field, ~2x slower): the same instance dict, so equal and hashed alike.
    """
    if not _plain_init(cls):
        return [f"    return {cls.__name__}({', '.join(values)})"]
    return [f"    o = _new({cls.__name__})", "    od = o.__dict__",
            *(f"    od[{fld.name!r}] = {out}" for fld, out in zip(fields, values, strict=False)), "    return o"]


def _plain_init(cls: type) -> bool:
    """Whether the dataclass ``__init__`` only stores its arguments in the instance dict."""
    return (dataclasses.is_dataclass(cls) and "__slots__" not in cls.__dict__
            and not hasattr(cls, "__post_init__")
            and all(f.init for f in dataclasses.fields(cls))
            # no InitVar or ClassVar pseudo-fields (they are in __dataclass_fields__ only)
            and len(dataclasses.fields(cls)) == len(getattr(cls, "__dataclass_fields__", {})))

class _Gen:
    def __init__(self) -> None:
        self.env: dict[str, Any] = {"_Bail": _Bail, "_unknown": _unknown, "_join": _join, "_new": object.__new__,
                                    "_dict": dict, "_list": list, "_str": str, "_int": int, "_bool": bool,
                                    "_tuple": tuple, "_enumerate": enumerate, "_len": len,
                                    "_unsafe": find_unsafe}
        self.sources: list[str] = []
        self.done: set[type] = set()
        self.counter = 0

    def const(self, value: Any) -> str:
        self.counter += 1
        name = f"_c{self.counter}"
        self.env[name] = value
        return name

    def var(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def build_fn(self, cls: type) -> str:
        name = f"_build_{cls.__name__}"
        if cls in self.done:
            return name
        self.done.add(cls)
        self.env[cls.__name__] = cls
        hints = get_type_hints(cls)
        fields = dataclasses.fields(cls)
        known = self.const(frozenset(f.name for f in fields))
        lines = [f"def {name}(d, drop, dropped, path, depth):",
                 "    if d.__class__ is not _dict:",
                 "        raise _Bail",
                 f"    if not {known}.issuperset(d):",
                 f"        _unknown(d, {known}, drop, dropped, path, depth)",
                 "    get = d.get"]
        args = []
        for fld in fields:
            if fld.default_factory is not dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{fld.name}: default_factory is not supported")
            out = self.var()
            args.append(out)
            spec = fld.metadata.get("spec", {})
            lines.append(f"    {out} = get({fld.name!r})")
            lines.append(f"    if {out} is None:")
            if fld.default is dataclasses.MISSING:
                lines.append("        raise _Bail")
            else:
                lines.append(f"        {out} = {self.const(fld.default)}")
            lines.append("    else:")
            body = self.value(hints[fld.name], spec, out, f"_join(path, {fld.name!r})", "depth + 1")
            lines.extend("        " + line for line in body)
        lines.extend(_construct(cls, fields, args))
        self.sources.append("\n".join(lines))
        return name

    def value(self, hint: Any, spec: Any, var: str, path: str, depth: str) -> list[str]:
        """Lines that check ``var`` (a decoded JSON value) against ``hint``/``spec`` and
        rebind it to the converted value, mirroring ``report._convert`` branch by branch."""
        origin = get_origin(hint)
        if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
            options = [arg for arg in get_args(hint) if arg is not type(None)]
            return self.value(options[0], spec, var, path, depth)
        if origin is Literal:
            return [f"if {var} not in {self.const(get_args(hint))}:", "    raise _Bail"]
        if origin is tuple:
            item_type = get_args(hint)[0]
            limit = spec.get("max_items", 1 << 30)
            lines = [f"if {var}.__class__ is not _list or _len({var}) > {limit}:", "    raise _Bail"]
            if dataclasses.is_dataclass(item_type):
                fn = self.build_fn(item_type)  # type: ignore[arg-type]
                lines.append(f"p = {path}")
                lines.append(f"{var} = _tuple([{fn}(x, drop, dropped, (p, i), {depth} + 1) "
                             f"for i, x in _enumerate({var})])")
            else:
                item = self.var()
                lines.append(f"{var}_out = []")
                lines.append(f"for {item} in {var}:")
                lines.extend("    " + line for line in self.value(item_type, {}, item, "''", f"{depth} + 1"))
                lines.append(f"    {var}_out.append({item})")
                lines.append(f"{var} = _tuple({var}_out)")
            return lines
        if origin is dict:
            if get_args(hint) != (str, int):
                raise TypeError(f"unsupported mapping in the report format: {hint!r}")
            limit = spec.get("max_items", 1 << 30)
            key_match = self.const(re.compile(spec["key_pattern"]).match)
            lo, hi = spec.get("minimum", -(1 << 62)), spec.get("maximum", 1 << 62)
            return [f"if {var}.__class__ is not _dict or _len({var}) > {limit}:",
                    "    raise _Bail",
                    f"for k, x in {var}.items():",
                    f"    if not {key_match}(k) or x.__class__ is not _int or x < {lo} or x > {hi}:",
                    "        raise _Bail",
                    "    if not k.isprintable() and _unsafe(k) >= 0:",
                    "        raise _Bail",
                    f"{var} = _dict({var})"]
        if dataclasses.is_dataclass(hint):
            fn = self.build_fn(hint)  # type: ignore[arg-type]
            return [f"{var} = {fn}({var}, drop, dropped, {path}, {depth})"]
        if hint is bool:
            return [f"if {var}.__class__ is not _bool:", "    raise _Bail"]
        if hint is int:
            lo, hi = spec.get("minimum", -(1 << 62)), spec.get("maximum", 1 << 62)
            return [f"if {var}.__class__ is not _int or {var} < {lo} or {var} > {hi}:", "    raise _Bail"]
        if hint is str:
            # No lone-surrogate check: msgspec refuses them while decoding (the test proves it).
            limit = spec.get("max_length", LIMITS["max_message_chars"])
            lines = [f"if {var}.__class__ is not _str or _len({var}) > {limit}:", "    raise _Bail"]
            if not spec.get("free_text"):  # isprintable() first: one C scan for the common case
                lines += [f"if not {var}.isprintable() and _unsafe({var}) >= 0:", "    raise _Bail"]
            if "pattern" in spec:
                # ``re.match`` semantics exactly (``$`` also matches before a final newline).
                lines += [f"if not {self.const(re.compile(spec['pattern']).match)}({var}):", "    raise _Bail"]
            return lines
        raise TypeError(f"unsupported type in the report format: {hint!r}")


def _static_depth(hint: Any) -> int:
    """How deep the known structure under ``hint`` can nest (scalars 0)."""
    origin = get_origin(hint)
    if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return max(_static_depth(arg) for arg in get_args(hint) if arg is not type(None))
    if origin is tuple:
        return 1 + _static_depth(get_args(hint)[0])
    if origin is dict:
        return 1
    if dataclasses.is_dataclass(hint):
        hints = get_type_hints(hint)
        return 1 + max(_static_depth(hints[f.name]) for f in dataclasses.fields(hint))
    return 0


def _generate() -> Any:
    # Known fields hold only scalars and the declared containers, so an accepted report can be
    # too deep only through dropped unknown values, which ``_unknown`` measures.
    if _static_depth(Report) > _MAX_DEPTH:
        raise TypeError("the report format nests deeper than max_depth; the fast path assumes it cannot")
    gen = _Gen()
    entry = gen.build_fn(Report)
    source = "\n\n".join(gen.sources)
    exec(compile(source, "<crashveil.server.ingest.decode generated>", "exec"), gen.env)
    gen.env["__source__"] = source
    return gen.env[entry], source


_build_report, _SOURCE = _generate()


# -- typed decoding into Struct mirrors ---------------------------------------------------

class _TypedGen:
    """``msgspec.Struct`` mirrors of the report dataclasses and converters back, generated
    from the same hints and ``spec`` as :class:`_Gen`, branch for branch."""

    def __init__(self, *, check_unsafe: bool = True) -> None:
        self.env: dict[str, Any] = {"_Bail": _Bail, "_new": object.__new__, "_tuple": tuple, "_unsafe": find_unsafe}
        self.sources: list[str] = []
        self.structs: dict[type, type] = {}
        self.counter = 0
        #: False: converters for input that cannot hold an unsafe character (``_plain_input``).
        self.check_unsafe = check_unsafe

    def const(self, value: Any) -> str:
        """As :meth:`_Gen.const` (the same env and counter attributes)."""
        self.counter += 1
        name = f"_c{self.counter}"
        self.env[name] = value
        return name

    def struct(self, cls: type) -> type:
        """The Struct mirroring ``cls`` (and, once, the converter ``_conv_<name>`` to ``cls``)."""
        done = self.structs.get(cls)
        if done is not None:
            return done
        hints = get_type_hints(cls)
        fields = dataclasses.fields(cls)
        annotations: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        lines = [f"def _conv_{cls.__name__}(s):"]
        outs: list[str] = []
        for fld in fields:
            if fld.default_factory is not dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{fld.name}: default_factory is not supported")
            hint, spec = hints[fld.name], fld.metadata.get("spec", {})
            optional = False
            origin = get_origin(hint)
            if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
                optional = type(None) in get_args(hint)
                hint = [arg for arg in get_args(hint) if arg is not type(None)][0]
            # ``_Gen`` reads a JSON null as "absent": only a None default may come out as None.
            nullable = optional and fld.default is None
            kind = self.type(hint, spec)
            annotations[fld.name] = kind | None if nullable else kind
            if fld.default is not dataclasses.MISSING:
                defaults[fld.name] = fld.default
            out = f"v{len(outs)}"
            outs.append(out)
            lines.append(f"    {out} = s.{fld.name}")
            check = self.convert(hint, spec, out)
            if check and nullable:
                lines.append(f"    if {out} is not None:")
                lines.extend("        " + line for line in check)
            else:
                lines.extend("    " + line for line in check)
        lines.extend(_construct(cls, fields, outs))
        self.env[cls.__name__] = cls
        self.sources.append("\n".join(lines))
        struct = msgspec.defstruct(f"_{cls.__name__}Struct", [
            (name, annotations[name], defaults[name]) if name in defaults else (name, annotations[name])
            for name in annotations], kw_only=True, forbid_unknown_fields=True, gc=False)
        self.structs[cls] = struct
        return struct

    def type(self, hint: Any, spec: Any) -> Any:
        """The msgspec type of a value of ``hint``: what ``_Gen.value`` checks in Python,
        as constraints msgspec checks while decoding (patterns excepted)."""
        origin = get_origin(hint)
        if origin is Literal:
            return hint
        if origin is tuple:
            limit = spec.get("max_items", 1 << 30)
            item = get_args(hint)[0]
            if dataclasses.is_dataclass(item):  # a list: the converter makes the tuple
                items = self.struct(item)  # type: ignore[arg-type]
                return Annotated[list[items], msgspec.Meta(max_length=limit)]  # type: ignore[valid-type]
            return Annotated[tuple[self.type(item, {}), ...],  # type: ignore[misc]  # a type built at run time
                             msgspec.Meta(max_length=limit)]
        if origin is dict:
            if get_args(hint) != (str, int):
                raise TypeError(f"unsupported mapping in the report format: {hint!r}")
            lo, hi = spec.get("minimum", -(1 << 62)), spec.get("maximum", 1 << 62)
            value = Annotated[int, msgspec.Meta(ge=lo, le=hi)]
            limit = spec.get("max_items", 1 << 30)
            return Annotated[dict[str, value], msgspec.Meta(max_length=limit)]
        if dataclasses.is_dataclass(hint):
            return self.struct(hint)  # type: ignore[arg-type]
        if hint is bool:
            return bool
        if hint is int:
            lo, hi = spec.get("minimum", -(1 << 62)), spec.get("maximum", 1 << 62)
            return Annotated[int, msgspec.Meta(ge=lo, le=hi)]
        if hint is str:
            return Annotated[str, msgspec.Meta(max_length=spec.get("max_length", LIMITS["max_message_chars"]))]
        raise TypeError(f"unsupported type in the report format: {hint!r}")

    def convert(self, hint: Any, spec: Any, var: str) -> list[str]:
        """Lines that check what msgspec could not (patterns) in the non-None ``var`` and
        rebind it to the dataclass value."""
        origin = get_origin(hint)
        if origin is tuple:
            item = get_args(hint)[0]
            if dataclasses.is_dataclass(item):
                self.struct(item)  # type: ignore[arg-type]
                return [f"{var} = _tuple([_conv_{item.__name__}(x) for x in {var}])"]  # type: ignore[union-attr]
            if item is str and self.check_unsafe:  # a tuple of strings (``grouping``): each is no free text
                return [f"for x in {var}:", "    if not x.isprintable() and _unsafe(x) >= 0:", "        raise _Bail"]
            return []  # items of scalar tuples have no other spec (as in ``_Gen``)
        if origin is dict:
            key_match = self.const(re.compile(spec["key_pattern"]).match)
            if not self.check_unsafe:
                return [f"for k in {var}:", f"    if not {key_match}(k):", "        raise _Bail"]
            return [f"for k in {var}:", f"    if not {key_match}(k) or (not k.isprintable() and _unsafe(k) >= 0):",
                    "        raise _Bail"]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):  # hints are types, never instances
            return [f"{var} = _conv_{hint.__name__}({var})"]
        lines = []
        if hint is str and not spec.get("free_text") and self.check_unsafe:
            lines += [f"if not {var}.isprintable() and _unsafe({var}) >= 0:", "    raise _Bail"]
        if hint is str and "pattern" in spec:
            lines += [f"if not {self.const(re.compile(spec['pattern']).match)}({var}):", "    raise _Bail"]
        return lines


def _generate_typed(*, check_unsafe: bool = True) -> tuple[Any, Any, str]:
    gen = _TypedGen(check_unsafe=check_unsafe)
    struct = gen.struct(Report)
    source = "\n\n".join(gen.sources)
    exec(compile(source, "<crashveil.server.ingest.decode typed>", "exec"), gen.env)
    return msgspec.json.Decoder(struct).decode, gen.env["_conv_Report"], source


_typed_decode, _convert_report, _TYPED_SOURCE = _generate_typed()
# The converters read Struct fields by name, so these also take ``_typed_decode``'s Structs.
_convert_plain_report = _generate_typed(check_unsafe=False)[1]


def _plain_input(raw: bytes) -> bool:
    """Whether no string of the JSON ``raw`` can hold a control or formatting character: it is
    ASCII without escapes (JSON writes C0 controls only as escapes) and without DEL. Most
    reports are; their strings then skip the per-string check (~7 us for 30 frames)."""
    return raw.isascii() and b"\\" not in raw and b"\x7f" not in raw
