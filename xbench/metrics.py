"""Translation quality metrics shared by the build's ``--qa`` estimate and ``xbench mt-eval``.

chrF and BLEU with sacrebleu; every score carries sacrebleu's signature so it can be reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence

from xbench.errors import InputError


def chrf_bleu(hypotheses: Sequence[str], references: Sequence[str], target: str) -> dict[str, tuple[float, str]]:
    """{metric: (score, sacrebleu signature)}; BLEU tokenizes Chinese with sacrebleu's zh tokenizer."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise InputError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = BLEU(tokenize="zh" if target == "zh" else "13a")
    chrf = CHRF()
    return {
        "bleu": (bleu.corpus_score(list(hypotheses), [list(references)]).score, str(bleu.get_signature())),
        "chrf": (chrf.corpus_score(list(hypotheses), [list(references)]).score, str(chrf.get_signature())),
    }
