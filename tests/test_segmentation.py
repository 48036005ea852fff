import pytest

from xbench.segmentation import split_units

CASES = [
    "plain",
    "  leading and trailing  ",
    "Passage line one.\nLine two.\n\n  Indented question?",
    "\n\nOnly breaks around\n",
    "",
    "   ",
    "Ünïcödé — 文字 text.",
]


@pytest.mark.parametrize("text", CASES)
def test_units_are_stripped_single_lines_and_join_gives_back_the_text(text):
    layout = split_units(text)
    assert layout.join(layout.units) == text
    assert all(unit and unit == unit.strip() and "\n" not in unit for unit in layout.units)


def test_blank_text_has_no_units():
    assert split_units("  \n ").units == ()


def test_over_long_line_is_cut_at_sentence_boundaries():
    sentence = "This sentence has exactly forty chars.. "
    text = (sentence * 10).strip()
    layout = split_units(text, max_chars=100)
    assert layout.join(layout.units) == text
    assert all(len(u) <= 100 for u in layout.units)
    assert all(u.endswith(".") for u in layout.units)  # every cut falls after a full stop
    assert len(layout.units) == 5


def test_a_word_longer_than_the_limit_is_cut_anywhere():
    text = "short " + "x" * 25
    layout = split_units(text, max_chars=10)
    assert layout.join(layout.units) == text
    assert [len(u) for u in layout.units] == [5, 10, 10, 5]


def test_translations_are_rejoined_with_original_whitespace():
    layout = split_units("  A.\n\nB  ")
    assert layout.join(["[x] A.", "[x] B"]) == "  [x] A.\n\n[x] B  "
