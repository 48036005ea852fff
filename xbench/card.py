"""Dataset cards: the README.md of a Hub folder, YAML ``configs:`` block plus a body from cards/.

The YAML's top-level ``xbench`` block describes each config for the runner (kind, prompt
language, cell languages, header); it stays out of ``configs:``, whose keys ``datasets`` passes
to its parquet builder.
"""

from __future__ import annotations

from importlib import resources
from string import Template

import yaml

from xbench import __version__
from xbench.build_report import BuildReport
from xbench.family import Family
from xbench.formats import ConfigSpec
from xbench.languages import LANGUAGES, SOURCE_LANGUAGE
from xbench.signature import build_signature
from xbench.translation.human import HUMAN_FIRST

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


def size_category(rows: int) -> str:
    return next((label for bound, label in _SIZES if rows < bound), "1M<n<10M")


def default_config(family: Family, built: list[str]) -> str:
    return family.default_config if family.default_config in built else (SOURCE_LANGUAGE if SOURCE_LANGUAGE in built else built[0])


def build_notice(translator: str, source: str | None) -> str | None:
    """A warning for builds that are not the real dataset (bundled sample, pseudo translations), else None."""
    parts = []
    if source == "sample":
        parts.append("built from the small bundled sample, not the full source dataset")
    if "pseudo" in translator.split(","):
        parts.append("'translations' are pseudo placeholders ('[fr] text') from the pseudo engine")
    if not parts:
        return None
    return "NOT FOR EVALUATION: " + "; ".join(parts) + ". For layout checks and tests only."


def card_metadata(family: Family, configs: list[ConfigSpec], report: BuildReport) -> dict:
    built = [spec.name for spec in configs if spec.name in report.configs]
    default = default_config(family, built)
    entries = []
    for name in built:
        entry: dict = {"config_name": name}
        if name == default:
            entry["default"] = True
        entry["data_files"] = [{"split": split, "path": f"{name}/{split}-*.parquet"} for split in report.configs[name]]
        entries.append(entry)
    languages = [SOURCE_LANGUAGE, *dict.fromkeys(lang for spec in configs for lang in spec.languages)]
    largest = max((sum(splits.values()) for splits in report.configs.values()), default=0)
    return {
        "pretty_name": family.pretty_name,
        "license": family.license,
        "language": languages,
        "multilinguality": "multilingual",
        "task_categories": list(family.task_categories),
        "size_categories": [size_category(largest)],
        "source_datasets": list(family.source_datasets),
        "tags": ["xbench", "code-switching", "crosslingual"],
        "configs": entries,
        "xbench": {"family": family.name, "configs": {name: config_metadata(family, spec) for spec in configs if (name := spec.name) in report.configs}},
    }


def config_metadata(family: Family, spec: ConfigSpec) -> dict:
    """What the runner needs to know of a config: what its rows are, the prompt language, every language in its cells."""
    language = SOURCE_LANGUAGE if spec.pool else spec.lang  # a mixed config is prompted in English
    languages = family.cell_languages(spec) if family.cell_languages else spec.shown_languages
    kind = family.config_kind(spec) if family.config_kind else family.kind
    entry: dict = {"kind": kind, "language": language, "languages": list(languages)}
    if family.header is not None:
        entry["header"] = family.header(language)
    return entry


def render_card(family: Family, configs: list[ConfigSpec], report: BuildReport) -> str:
    metadata = yaml.safe_dump(card_metadata(family, configs, report), sort_keys=False, allow_unicode=True, width=1000)
    template = Template((resources.files("xbench.cards") / family.card_template).read_text(encoding="utf-8"))
    built = [spec.name for spec in configs if spec.name in report.configs]
    body = template.substitute(
        default_config=default_config(family, built),
        pretty_name=family.pretty_name,
        dataset=family.name,
        configs_table=_configs_table(configs, report),
        translation_table=_translation_table(report),
        translator=report.translator,
        untranslated=_untranslated_text(report),
        seed=report.seed,
        version=__version__,
        signature=build_signature(report.dataset, report.translator, report.seed, __version__),
        citation=family.citation,
        license=family.license,
        **(family.card_fields() if family.card_fields else {}),
    )
    notice = build_notice(report.translator, report.source)
    if notice:  # the body's first line, before anything that describes the full dataset
        body = f"**{notice}**\n\n{body}"
    return f"---\n{metadata}---\n\n{body}"


def _configs_table(configs: list[ConfigSpec], report: BuildReport) -> str:
    lines = ["| config | content | rows |", "|---|---|---|"]
    for spec in configs:
        if spec.name in report.configs:
            counts = ", ".join(f"{split}: {n:,}" for split, n in report.configs[spec.name].items())
            lines.append(f"| `{spec.name}` | {spec.describe()} | {counts} |")
    return "\n".join(lines)


def _translation_table(report: BuildReport) -> str:
    """Only what the inputs determine: request counts and cache hits vary by run (see build_report.json)."""
    lines = [
        "| language | unique segments | characters | engines (segments) | failures |",
        "|---|---|---|---|---|",
    ]
    for code, stats in report.languages.items():
        engines = ", ".join(f"{name} ({count:,})" for name, count in sorted(stats.engines.items())) or "-"
        lines.append(f"| {LANGUAGES[code].name} (`{code}`) | {stats.segments:,} | {stats.characters:,} | {engines} | {stats.failures:,} |")
    if report.quality:
        lines += [
            "",
            "Translation quality of the chain on a held-out parallel sample (`--qa`, sacrebleu):",
            "",
            "| language | sentences | chrF | BLEU |",
            "|---|---|---|---|",
        ]
        for code, q in report.quality.items():
            lines.append(f"| {LANGUAGES[code].name} (`{code}`) | {q['n']} | {q['chrf']} | {q['bleu']} |")
        lines += ["", f"Signatures: `{next(iter(report.quality.values()))['signature']}`"]
    return "\n".join(lines + _provenance_table(report))


def _provenance_table(report: BuildReport) -> list[str]:
    """Translated cells by provenance, only for builds that took imported (human-made) memory entries.

    Counted from the build report: each unique segment once per language, whatever the
    number of configs that show it.
    """
    made = [name for name in HUMAN_FIRST if any(name in stats.engines for stats in report.languages.values())]
    if not made:
        return []
    lines = [
        "",
        "Translated cells (unique segments) by provenance: imported human translations first, machine translation for the gaps:",
        "",
        "| language | " + " | ".join(made) + " | machine (engine) |",
        "|---|" + "---|" * (len(made) + 1),
    ]
    for code, stats in report.languages.items():
        machine = ", ".join(f"{name} ({n:,})" for name, n in sorted(stats.engines.items()) if name not in HUMAN_FIRST) or "-"
        counts = " | ".join(f"{stats.engines.get(name, 0):,}" for name in made)
        lines.append(f"| {LANGUAGES[code].name} (`{code}`) | {counts} | {machine} |")
    return lines


def _untranslated_text(report: BuildReport) -> str:
    if not report.untranslated:
        return "Every cell that a config shows in another language was translated (no untranslated cells)."
    rows = ", ".join(f"`{name}`: {count:,}" for name, count in report.untranslated.items())
    return f"Some cells could not be translated and were kept in English, marked in the `untranslated` column (built with `--allow-untranslated`): {rows}."
