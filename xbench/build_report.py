"""What a build did: configs and rows written, translation statistics per language, quality on --qa.

Written as ``build_report.json`` beside the configs; it also lists the configs a build folder owns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xbench import __version__
from xbench.translation.translator import LanguageStats


@dataclass
class BuildReport:
    dataset: str
    out: str
    configs: dict[str, dict[str, int]]  # config -> split -> rows
    languages: dict[str, LanguageStats]
    translator: str
    seed: int
    dry_run: bool
    untranslated: dict[str, int] = field(default_factory=dict)  # config -> cells left in English
    seconds: float = 0.0
    quality: dict[str, dict] = field(default_factory=dict)  # language -> chrF/BLEU of the chain on --qa
    source: str | None = None  # the --source given ("sample": the bundled sample); None: the family's Hub source

    def to_dict(self) -> dict:
        return {
            "xbench_version": __version__,
            "dataset": self.dataset,
            "translator": self.translator,
            "seed": self.seed,
            "dry_run": self.dry_run,
            "configs": self.configs,
            "untranslated": self.untranslated,
            "languages": {code: stats.to_dict() for code, stats in self.languages.items()},
            "quality": self.quality,
            "source": self.source,
            "seconds": round(self.seconds, 3),
        }
