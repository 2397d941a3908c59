"""Text templates: a line of text (a CSV row) rendered from a telegram in one f-string.

A :class:`Template` is a sequence of parts:

* ``str``: literal text;
* :class:`Code`: the number text of a code in the telegram (:attr:`.telegram.CosemObject.number_text`,
  "" where the telegram has no such code), as :meth:`.telegram.Telegram.number_texts` gives it;
* :class:`Arg`: an argument of the call, or an item or a slice of it, formatted with a format spec
  or looked up in a table of texts.

:meth:`.telegram.Telegram.render` renders one. For a lazily built telegram, its layout compiles the
template once into a function whose f-string reads each number's digits at their place in the
telegram (:meth:`.layout.Layout.renderers`); any other telegram goes through a function compiled
once per template that takes the number texts as a tuple. Both render the same text.

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

__all__ = ["Arg", "Code", "Renderer", "Source", "Template"]

Renderer = Callable[..., str]
"""A compiled template: (the telegram's bytes or its number texts, then the arguments) -> text."""

Source = str | tuple[int, int, int] | Callable[[bytes], str]
"""Where a layout finds a code's number text: a constant text; a span ``(start, split, stop)``,
whose text is ``data[start:split]`` without leading zeros followed by ``data[split:stop]``; or a
function of the telegram's bytes."""

_COMPILED: dict[str, CodeType] = {}
"""Compiled sources: a meter's next layout (a gas reading changed) usually has the same spans."""
_FIXED_POINT = re.compile(r"\.\d+f")
_SPEC = re.compile(r"[\w.,<>=^+\- #]*")


@dataclass(frozen=True, slots=True)
class Code:
    """The number text of ``code`` in the telegram ("" where it is absent)."""

    code: str


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


Part = str | Code | Arg


class Template:
    """A line of text made of literal text, number texts of codes and arguments (see the module).

    Create one per line shape and keep it: layouts compile it once each.
    """

    __slots__ = ("_namespace", "_params", "_pieces", "codes", "generic", "parts")

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts: tuple[Part, ...] = tuple(parts)
        codes: list[str] = []
        # The f-string as pieces: fragments for literal text and arguments, and codes, whose
        # fragments depend on where a telegram has them.
        pieces: list[str | Code] = []
        namespace: dict[str, Any] = {"Z": "0"}
        count = 0
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(_literal(part))
            elif isinstance(part, Code):
                pieces.append(part)
                if part.code not in codes:
                    codes.append(part.code)
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
        self.codes: tuple[str, ...] = tuple(codes)
        """Every code the template reads, once each, in order of first use."""
        self.generic: Renderer = self._generate(
            {code: f"{{m[{k}]}}" for k, code in enumerate(self.codes)}, "m", {}, decode=False
        )
        """(the number texts of :attr:`codes`, then the arguments) -> text."""

    def __repr__(self) -> str:
        return f"Template({self.parts!r})"

    def compile(self, source: Callable[[str], Source]) -> Renderer:
        """(a telegram's bytes, then the arguments) -> text, for telegrams whose codes' number
        texts are where ``source`` says (see :data:`Source`)."""
        extra: dict[str, Any] = {}
        fragments: dict[str, str] = {}
        decode = False
        for code in self.codes:
            found = source(code)
            if isinstance(found, str):
                fragments[code] = _literal(found)
            elif isinstance(found, tuple):
                start, split, stop = found
                decode = True
                lead = f"{{t[{start}:{split}].lstrip(Z)}}" if split > start else ""
                fragments[code] = f"{lead}{{t[{split}:{stop}]}}"
            else:
                name = f"S{len(extra)}"
                extra[name] = found
                fragments[code] = f"{{{name}(data)}}"
        return self._generate(fragments, "data", extra, decode)

    def _generate(
        self, fragments: dict[str, str], first: str, extra: dict[str, Any], decode: bool
    ) -> Renderer:
        """The renderer whose first parameter is ``first`` and whose codes render as the f-string
        ``fragments`` (which read the text ``t`` of ``data`` when ``decode``)."""
        text = "".join(
            fragments[piece.code] if isinstance(piece, Code) else piece for piece in self._pieces
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
