"""Text templates: a compiled template renders exactly what its parts say, lazily built or not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib import template as template_module
from p1lib.generator import STYLES
from p1lib.parsing import Fields, Parser, Telegram
from p1lib.template import Arg, Code, Stamp, Template

from .builders import HU_LINES, telegram
from .test_layout import body, eager, lazy_after, telegram_pair


class Texts(dict[object, str]):
    """A table of texts made on first use, as the records writer's are."""

    def __missing__(self, value: object) -> str:
        text = self[value] = f"<{value!r}>"
        return text


def expected(template: Template, t: Telegram, *args: Any) -> str:
    """What the parts say, one by one."""
    out = []
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Code):
            out.append(t.number_texts(Fields([part.code]))[0])
        elif isinstance(part, Stamp):
            obj = t.get(part.code)
            stamp = None if obj is None else obj.timestamp
            out.append("" if stamp is None else stamp.isoformat())
        else:
            value = args[part.index]
            if isinstance(part.item, int):
                value = value[part.item]
            elif part.item is not None:
                value = value[part.item[0] : part.item[1]]
            out.append(part.table[value] if part.table is not None else format(value, part.spec))
    return "".join(out)


LITERALS = ["", ",", "{", "}", "{{x}}", "'", '"', "\\", "\x00", "\n", "é", "%s", "{t[0:1]}"]


def make_template(codes: list[str], literals: list[str]) -> Template:
    parts: list[str | Code | Arg] = []
    for k, code in enumerate(codes):
        parts += [literals[k % len(literals)], Code(code), Stamp(code)]
    parts += [
        Arg(0),
        ";",
        Arg(1, 0, spec=".3f"),
        Arg(1, 1, spec=">9.1f"),
        Arg(1, 2, spec="d"),
        Arg(1, (0, 2), table=Texts()),
        Arg(2, table=Texts()),
    ]
    return Template(parts)


ARGS = ("text {not a field}", (-0.0, 1234.56789, 7), None)


@settings(max_examples=40, deadline=None)
@given(
    style=st.sampled_from(STYLES),
    seed=st.integers(0, 10_000),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 9)), max_size=6),
    literals=st.lists(st.sampled_from(LITERALS), min_size=1, max_size=4),
)
def test_lazy_and_parsed_telegrams_render_the_same(
    style: str, seed: int, edits: list[tuple[int, int]], literals: list[str]
) -> None:
    first, second, changed = telegram_pair(style, seed, edits)
    parser = Parser()
    parsed = parser.parse(first)
    assert parsed is not None
    codes = [obj.code for obj in parsed.objects] + ["9-9:9.9.9"]  # and one it does not send
    template = make_template(codes, literals)
    assert parsed.render(template, *ARGS) == expected(template, parsed, *ARGS)
    for data in (second, changed):
        # (the unchanged next telegram is built lazily and rendered by the layout's compiled
        # template; an edit inside a line that must repeat makes a new layout)
        lazy = parser.parse(data)
        assert lazy is not None
        assert lazy._plan is not None or data != second
        full = eager(data)
        assert lazy.render(template, *ARGS) == full.render(template, *ARGS)
        assert lazy.render(template, *ARGS) == expected(template, full, *ARGS)


@pytest.mark.parametrize(
    ("line", "changed"),
    [
        ("1-0:1.7.0(01500*W)", "1-0:1.7.0(01234*W)"),  # scaled to kW
        ("1-0:1.7.0(.500*kW)", "1-0:1.7.0(.234*kW)"),  # no digit before the point
        ("1-0:1.7.0(5.500*kW)", "1-0:1.7.0(0.234*kW)"),  # one digit before the point
        ("0-0:96.7.21(00004)", "0-0:96.7.21(00000)"),  # a bare number: "0"
        ("0-0:1.0.0(230502215000S)", "0-0:1.0.0(230502215001S)"),  # a clock has no number text
        ("0-1:24.2.1(230502215000S)(01234.567*m3)", "0-1:24.2.1(230502220500S)(00001.000*m3)"),
        ("0-0:96.7.21(230502215000)", "0-0:96.7.21(230502215959)"),  # 12 digits: also a time
    ],
)
def test_every_kind_of_field(line: str, changed: str) -> None:
    lazy, data = lazy_after(line, changed)
    code = changed.split("(", maxsplit=1)[0]
    template = Template(["[", Code(code), "|", Code("0-0:96.14.0"), "|", Stamp(code), "]"])
    full = eager(data)
    assert lazy.render(template) == full.render(template) == expected(template, full)


def test_a_code_used_twice() -> None:
    t = eager(body(telegram(*HU_LINES)))
    template = Template([Code("1-0:32.7.0"), "/", Code("1-0:32.7.0")])
    assert template.reads == (Code("1-0:32.7.0"),)
    assert t.render(template) == "234.3/234.3"


@pytest.mark.parametrize(
    "arg",
    [
        lambda: Arg(-1),
        lambda: Arg(0, -1),
        lambda: Arg(0, (0, -2)),
        lambda: Arg(0, spec="}"),
        lambda: Arg(0, spec="'"),
        lambda: Arg(0, spec="{x}"),
        lambda: Arg(0, spec=".3f}\nimport os"),
    ],
)
def test_arguments_are_checked(arg: Any) -> None:
    """Nothing but indices and format specs reaches the generated source."""
    with pytest.raises(ValueError, match=r"argument indices|not a format spec"):
        arg()


def test_compiled_sources_and_renderers_are_bounded() -> None:
    parser = Parser()
    parser.parse(body(telegram(*HU_LINES)))
    lazy = parser.parse(body(telegram(*HU_LINES)))
    assert lazy is not None
    assert lazy._plan is not None
    for k in range(150):
        template = Template([str(k), Code("1-0:32.7.0")])
        assert lazy.render(template) == f"{k}234.3"
    assert len(lazy._plan.renderers) <= 64
    assert len(template_module._COMPILED) <= 64
    assert repr(Template(["x"])) == "Template(('x',))"
