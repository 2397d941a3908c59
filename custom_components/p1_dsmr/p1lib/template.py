"""Text templates: a line of text (a CSV row) rendered from a telegram in one f-string.

A :class:`Template` is a sequence of parts:

* ``str``: literal text;
* :class:`Code`: the number text of a code in the telegram (:attr:`.telegram.CosemObject.number_text`,
  "" where the telegram has no such code), as :meth:`.telegram.Telegram.number_texts` gives it;
* :class:`Stamp`: the time of a code's object (:attr:`.telegram.CosemObject.timestamp`, a gas
  reading's capture time) as ISO 8601 text, "" where there is none;
* :class:`Arg`: an argument of the call, or an item or a slice of it, formatted with a format spec
  or looked up in a table of texts.

:meth:`.telegram.Telegram.render` renders one. For a lazily built telegram, its layout compiles the
template once into a function whose f-string reads each number's digits at their place in the
telegram (:meth:`.layout.Layout.renderers`); any other telegram goes through a function compiled
once per template that takes the texts as a tuple. Both render the same text.

The functions are generated as Python source and compiled with ``exec``, as
:func:`collections.namedtuple` and :mod:`dataclasses` do. The source holds only names bound in its
namespace, integers and format specs (checked), and literal text as escaped string literals: never
any telegram content.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import CodeType
from typing import Any

from .telegram import CosemObject

__all__ = ["Arg", "Code", "Renderer", "Source", "Stamp", "Template", "TimeSource"]

Renderer = Callable[..., str]
"""A compiled template: (the telegram's bytes or its number texts, then the arguments) -> text."""

Source = str | tuple[int, int, int] | Callable[[bytes], str]
"""Where a layout finds a code's number text: a constant text; a span ``(start, split, stop)``,
whose text is ``data[start:split]`` without leading zeros followed by ``data[split:stop]``; or a
function of the telegram's bytes."""

TimeSource = str | tuple[int, int, Mapping[str, str]] | Callable[[bytes], str]
"""Where a layout finds a code's time as ISO 8601 text: a constant text; a span ``(start, stop,
table)`` of the meter's clock text (``YYMMDDhhmmss`` and its S/W flag, if any) and the table of
ISO 8601 texts by clock text of the meter's zone (:attr:`.clock.MeterClock.iso`); or a function of
the telegram's bytes."""

_COMPILED: dict[str, CodeType] = {}
"""Compiled sources: a meter's next layout (a new device type, a longer value ...) often has the
same spans, and converting several logs compiles the same templates again."""
_FIXED_POINT = re.compile(r"\.\d+f")
_SPEC = re.compile(r"[\w.,<>=^+\- #]*")


@dataclass(frozen=True, slots=True)
class Code:
    """The number text of ``code`` in the telegram ("" where it is absent)."""

    code: str

    def text(self, obj: CosemObject) -> str:
        """What this part reads from ``code``'s object."""
        return obj.number_text


@dataclass(frozen=True, slots=True)
class Stamp:
    """The time of ``code``'s object as ISO 8601 text ("" where absent or without a time)."""

    code: str

    def text(self, obj: CosemObject) -> str:
        """What this part reads from ``code``'s object."""
        stamp = obj.timestamp
        return "" if stamp is None else stamp.isoformat()


@dataclass(frozen=True, slots=True)
class Arg:
    """Argument ``index`` of the call (its item ``item`` when given, or the tuple ``[start:stop]`` of
    its items for ``item=(start, stop)``), formatted with ``spec``, or looked up in ``table`` (which
    must hold every value it is given: a dict with ``__missing__``)."""

    index: int
    item: int | tuple[int, int] | None = None
    spec: str = ""
    table: Mapping[Any, str] | None = None

    def __post_init__(self) -> None:
        items = (
            () if self.item is None else (self.item,) if isinstance(self.item, int) else self.item
        )
        if self.index < 0 or any(not isinstance(k, int) or k < 0 for k in items):
            raise ValueError("argument indices must be integers, not negative")
        if _SPEC.fullmatch(self.spec) is None:
            raise ValueError(f"not a format spec: {self.spec!r}")


Part = str | Code | Stamp | Arg
Read = Code | Stamp
"""What a template reads from the telegram."""


class Template:
    """A line of text made of literal text, number texts and times of codes, and arguments (see the
    module).

    Create one per line shape and keep it: layouts compile it once each.
    """

    __slots__ = ("_namespace", "_params", "_pieces", "generic", "parts", "reads")

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts: tuple[Part, ...] = tuple(parts)
        reads: list[Read] = []
        # The f-string as pieces: fragments for literal text and arguments, and what is read from
        # the telegram, whose fragments depend on where a telegram has it.
        pieces: list[str | Read] = []
        namespace: dict[str, Any] = {"Z": "0"}
        count = 0
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(_literal(part))
            elif isinstance(part, Code | Stamp):
                pieces.append(part)
                if part not in reads:
                    reads.append(part)
            else:
                count = max(count, part.index + 1)
                value = f"a{part.index}"
                if isinstance(part.item, int):
                    value += f"[{part.item}]"
                elif part.item is not None:
                    value += f"[{part.item[0]}:{part.item[1]}]"
                if part.table is not None:
                    name = f"T{len(namespace)}"
                    namespace[name] = part.table
                    value = f"{name}[{value}]"
                if _FIXED_POINT.fullmatch(part.spec):
                    # "%.3f" % x gives format(x, ".3f") in two thirds of the time
                    name = f"F{len(namespace)}"
                    namespace[name] = "%" + part.spec
                    pieces.append(f"{{{name} % {value}}}")
                else:
                    pieces.append(f"{{{value}:{part.spec}}}" if part.spec else f"{{{value}}}")
        self._pieces = tuple(pieces)
        self._namespace = namespace
        self._params = "".join(f", a{k}" for k in range(count))
        self.reads: tuple[Read, ...] = tuple(reads)
        """What the template reads from the telegram, once each, in order of first use."""
        self.generic: Renderer = self._generate(
            {read: f"{{m[{k}]}}" for k, read in enumerate(self.reads)}, "m", {}, decode=False
        )
        """(the texts of :attr:`reads`, then the arguments) -> text."""

    def __repr__(self) -> str:
        return f"Template({self.parts!r})"

    def compile(
        self, source: Callable[[str], Source], time_source: Callable[[str], TimeSource]
    ) -> Renderer:
        """(a telegram's bytes, then the arguments) -> text, for telegrams whose codes' number
        texts are where ``source`` says (see :data:`Source`) and their times where
        ``time_source`` says (see :data:`TimeSource`)."""
        extra: dict[str, Any] = {}
        fragments: dict[Read, str] = {}
        decode = False
        for read in self.reads:
            found = source(read.code) if isinstance(read, Code) else time_source(read.code)
            if isinstance(found, str):
                fragments[read] = _literal(found)
            elif isinstance(found, tuple):
                decode = True
                if isinstance(read, Stamp):
                    first, last, table = found
                    name = f"I{len(extra)}"
                    extra[name] = table
                    fragments[read] = f"{{{name}[t[{int(first)}:{int(last)}]]}}"
                    continue
                start, split, stop = found
                lead = f"{{t[{start}:{split}].lstrip(Z)}}" if split > start else ""
                fragments[read] = f"{lead}{{t[{split}:{stop}]}}"
            else:
                name = f"S{len(extra)}"
                extra[name] = found
                fragments[read] = f"{{{name}(data)}}"
        return self._generate(fragments, "data", extra, decode)

    def _generate(
        self, fragments: dict[Read, str], first: str, extra: dict[str, Any], decode: bool
    ) -> Renderer:
        """The renderer whose first parameter is ``first`` and whose reads render as the f-string
        ``fragments`` (which read the text ``t`` of ``data`` when ``decode``)."""
        text = "".join(
            piece if isinstance(piece, str) else fragments[piece] for piece in self._pieces
        )
        prelude = "    t = data.decode('latin-1')\n" if decode else ""
        source = f"def render({first}{self._params}):\n{prelude}    return f{text!r}\n"
        code = _COMPILED.get(source)
        if code is None:
            if len(_COMPILED) >= 64:
                _COMPILED.clear()
            code = _COMPILED[source] = compile(source, "<template>", "exec")
        namespace = {**self._namespace, **extra}
        exec(code, namespace)  # see the module's description
        renderer: Renderer = namespace["render"]
        return renderer


def _literal(text: str) -> str:
    """``text`` as literal f-string content."""
    return text.replace("{", "{{").replace("}", "}}")
