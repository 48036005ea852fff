"""One parser for every comma-separated choice list (languages, formats, splits, units, MT directions)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from xbench.errors import InputError


def parse_choices(
    given: str | Iterable[str],
    choices: Sequence[str] | Callable[[str], object],
    *,
    option: str,
    what: str = "value",
    every: Sequence[str] | None = None,
) -> list[str]:
    """``a,b`` (or a list) -> the names, de-duplicated, in the order given; ``all`` -> ``every``.

    ``choices`` is the allowed names (``every`` defaults to them) or a check that raises
    InputError for a bad name (then ``all`` means something only when ``every`` is given).
    """
    if callable(choices):
        check = choices
    else:
        every = choices if every is None else every

        def check(name: str) -> None:
            if name not in choices:
                raise InputError(f"{option}: unknown {what} {name!r}; choose from all, {', '.join(choices)}")

    picked: dict[str, None] = {}
    for raw in given.split(",") if isinstance(given, str) else given:
        name = raw.strip()
        if not name:
            continue
        for each in every if (name == "all" and every is not None) else (name,):
            if each not in picked:
                check(each)
                picked[each] = None
    if not picked:
        raise InputError(f"{option}: no {what} given")
    return list(picked)
