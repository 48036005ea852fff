import pytest

from xbench.errors import InputError
from xbench.formats import FORMATS, ConfigSpec, parse_formats, parse_pool, plan_configs

IDS = [f"subject/test/{i}" for i in range(200)]


@pytest.mark.parametrize(
    ("name", "question", "translated"),
    [
        ("full", "fr", lambda a, wrong: {0, 1, 2, 3}),
        ("question", "fr", lambda a, wrong: set()),
        ("options", "en", lambda a, wrong: {0, 1, 2, 3}),
        ("question_gt", "fr", lambda a, wrong: {a}),
        ("gt_option", "en", lambda a, wrong: {a}),
        ("three_wrong", "en", lambda a, wrong: set(wrong)),
    ],
)
def test_deterministic_formats_translate_exactly_their_cells(name, question, translated):
    spec = ConfigSpec(f"fr_{name}", "fr", FORMATS[name])
    for answer in range(4):
        wrong = [i for i in range(4) if i != answer]
        q_lang, choice_langs = spec.cell_languages("x/test/0", answer, seed=0)
        assert q_lang == question
        assert {i for i, lang in enumerate(choice_langs) if lang == "fr"} == translated(answer, wrong)
        assert set(choice_langs) <= {"fr", "en"}


def test_one_wrong_picks_one_wrong_option_seeded_per_row():
    spec = ConfigSpec("fr_one_wrong", "fr", FORMATS["one_wrong"])
    picks = []
    for row_id in IDS:
        q_lang, langs = spec.cell_languages(row_id, 2, seed=0)
        translated = [i for i, lang in enumerate(langs) if lang == "fr"]
        assert q_lang == "en" and len(translated) == 1 and translated[0] != 2
        picks.append(translated[0])
    assert set(picks) == {0, 1, 3}  # all wrong options get picked over 200 rows
    # each language draws independently (as the study's translate.py), and another seed changes picks
    de = ConfigSpec("de_one_wrong", "de", FORMATS["one_wrong"])
    de_picks = [de.cell_languages(r, 2, 0)[1].index("de") for r in IDS]
    assert de_picks != picks and 0.2 < sum(a == b for a, b in zip(de_picks, picks)) / len(IDS) < 0.5
    assert [de.cell_languages(r, 2, 0)[1].index("de") for r in IDS] == de_picks  # and is reproducible
    assert [spec.cell_languages(r, 2, 1)[1].index("fr") for r in IDS] != picks


def test_mixup_uses_each_pool_language_exactly_once_per_row():
    spec = ConfigSpec("mixup", pool=("en", "fr", "de", "es", "it"))
    seen_question_langs = set()
    for row_id in IDS:
        q_lang, choice_langs = spec.cell_languages(row_id, 0, seed=0)
        assert sorted([q_lang, *choice_langs]) == sorted(spec.pool)
        seen_question_langs.add(q_lang)
    assert seen_question_langs == set(spec.pool)
    assert spec.languages == ("fr", "de", "es", "it")


def test_row_languages_do_not_depend_on_other_configs():
    alone = plan_configs(["fr"], ["one_wrong", "mixup"])
    crowded = plan_configs(["de", "zh", "fr"], parse_formats("all"))
    pick = lambda configs, name: next(s for s in configs if s.name == name)  # noqa: E731
    for name in ("fr_one_wrong", "mixup"):
        assert [pick(alone, name).cell_languages(r, 1, 7) for r in IDS] == [pick(crowded, name).cell_languages(r, 1, 7) for r in IDS]


def test_plan_configs_order_and_names():
    names = [s.name for s in plan_configs(["fr", "de"], parse_formats("all"))]
    assert names[0] == "en" and names[-1] == "mixup"
    assert names[1:8] == [f"fr_{f}" for f in ("full", "question", "options", "question_gt", "gt_option", "one_wrong", "three_wrong")]
    assert len(names) == 1 + 2 * 7 + 1
    other_pool = plan_configs(["fr"], ["mixup"], parse_pool("en,ru,zh,he,ar"))
    assert [s.name for s in other_pool] == ["en", "mixup_en_ru_zh_he_ar"]
    assert [s.name for s in plan_configs(["fr"], ["full", "gt_option"], full_config_is_lang=True)] == ["en", "fr", "fr_gt_option"]


def test_bad_format_and_pool_are_named():
    with pytest.raises(InputError, match="--formats: unknown format 'halfway'"):
        parse_formats("full,halfway")
    with pytest.raises(InputError, match="--mixup-pool: needs exactly 5 distinct languages, got 4"):
        parse_pool("en,fr,de,es")
