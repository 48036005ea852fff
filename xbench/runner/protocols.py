"""The two scoring protocols of ``xbench eval``: the study's own rules, and lm-evaluation-harness's.

``study`` re-implements what the official code of Chua et al. does
(google-research/crosslingual-knowledge-barriers, "CKB" below), so its numbers are comparable
with the paper's. ``harness`` keeps lm-evaluation-harness conventions, so its numbers match
``lm_eval`` on the exported tasks (``xbench export lm-eval --protocol harness``).

=====================  ==========================================  ============================================
rule                   study (official file)                       harness
=====================  ==========================================  ============================================
option token           ``tokenizer(L).input_ids[-1]``: the letter   the token after ``"Answer:"`` in the encoding
                       encoded alone, last id (bare ``A`` on byte-  of ``"Answer: A"`` (``" A"``); softmax over
                       level BPE, ``▁A`` on SentencePiece); softmax the four, argmax
                       over the four, argmax. CKB MMLU/models/hf.py
                       ``query_logits``; HP/evaluate.py
MMLU header            ``about`` + each subject word with a leading ``about high school geography.``
                       space: ``about  high school geography.``
                       CKB MMLU/dataset/mmlu.py ``format_subject``
aware0 / aware1        header + " " + sentence + "\\n\\n" (mmlu.py   same
                       ``gen_prompt``, ``INTERV_PROMPTS`` 0 and 1)
demos                  ``Q\\nA. ..\\nD. ..\\nAnswer: X\\n\\n``, the    same
                       first k dev rows of the subject (mmlu.py
                       ``format_example``; CKB MMLU/eval.py
                       ``--dev_trans_lan``: English or same config)
MMLU query             ``Q\\nA. ..\\nD. ..\\nAnswer:``                same
HP-Quiz prompt         instruction + "\\n\\n" + ``Q\\nA. ..\\nD. ..\\n   native header + "\\n\\n" + ``...\\nAnswer:``
                       Answer: `` (trailing space); en/de/es/fr/it
                       use the sentences of CKB HP/evaluate.py
                       ``instructions``, other languages xbench's
                       native headers
translate-then-answer  header with ``INTERV_PROMPTS[2]``;           xbench's ``English:`` cue; greedy decoding
                       ``Question: `` prefixes; each demo:          until the model writes ``Answer:``, then the
                       mixed MCQ, ``\\nAnswer: \\n`` + the request    option token is scored there
                       sentence + ``\\nQuestion: `` + the English
                       MCQ + ``\\nAnswer: X\\n\\n``; the query ends
                       after ``Question: ``. CKB MMLU/dataset/
                       mmlu_en_trans.py. The model writes the
                       translation and its answer (CKB MMLU/scripts/
                       intervention/llama3.sh: generation, 256
                       tokens); the answer is read off as described
                       in :func:`read_written_answer`
first token (Tb. 8)    the greedy token, decoded (special tokens    the greedy token counts if it is one of the
                       skipped, as CKB hf.py ``query_generation``),  option tokens above (``" A"``); backends
                       equals the option id after stripping         that return text compare it after
                       whitespace: ``" A"`` is A (the paper, § E.2; stripping whitespace
                       the released code compares ``pred == label``
                       on a sampled token, so ``" A"`` is wrong
                       there: see :func:`first_token_matches`)
precision (auto)       GPU: float16 for MMLU (hf.py), bfloat16 for  bfloat16 where supported, else float32
                       HP-Quiz (HP/evaluate.py) and TOFU (locuslab/
                       tofu evals/eval_everything.py); CPU float32
TOFU                   ``paraphrased_question`` (the paper: "the     ``question`` in ``Question: q\\nAnswer:``,
                       paraphrased questions for evaluation") in    200 new tokens
                       the model family's TOFU template; 200 tokens
                       in all, prompt included (locuslab/tofu
                       config/eval_everything.yaml ``max_length``)
=====================  ==========================================  ============================================

Where the official code samples (``do_sample=True`` in CKB hf.py ``query_generation``), xbench
decodes greedily so a run is reproducible; the official first-token and translate-then-answer
numbers are therefore one draw of a random process, xbench's the greedy outcome. HP/evaluate.py
loads the slow tokenizer (``use_fast=False``); xbench loads the one ``AutoTokenizer`` gives
(usually the fast one), so a model whose slow and fast tokenizers encode a prompt differently
can predict differently.

TOFU templates come from locuslab/tofu config/model_config.yaml (question start tag, question
end tag, answer tag). TOFU's ``run_generation`` (evaluate_util.py) decodes the training text
``start + q + end + answer_tag + answer`` and keeps what precedes ``" [/INST]"`` (llama2,
re-appended) or ``"Answer: "`` (every other family, not re-appended): the generation prompt is
``start + q + end``, so Phi's is ``"Question: q\\n"``, without the answer tag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from xbench.errors import InputError

STUDY = "study"
HARNESS = "harness"
PROTOCOLS = (STUDY, HARNESS)
DEFAULT_PROTOCOL = STUDY

# Which of the study's rules apply to a dataset, by the family its card names (anything else: generic).
MMLU, HP, TOFU, GENERIC = "mmlu", "hp", "tofu", "generic"
FAMILY_RULES = {"mmlu_mixup": MMLU, "hp_quiz": HP, "tofu": TOFU}

# CKB HP/evaluate.py ``instructions``, word for word.
STUDY_HP_INSTRUCTIONS = {
    "de": "Im Folgenden finden Sie Multiple-Choice-Fragen (mit Antworten) zu Harry Potter.",
    "en": "The following are multiple choice questions (with answers) about Harry Potter.",
    "es": "Las siguientes son preguntas de opción múltiple (con respuestas) sobre Harry Potter.",
    "fr": "Vous trouverez ci-dessous des questions à choix multiples (avec réponses) sur Harry Potter.",
    "it": "Di seguito sono riportate domande a scelta multipla (con risposte) su Harry Potter.",
}
# CKB MMLU/dataset/mmlu.py ``INTERV_PROMPTS[2]`` and mmlu_en_trans.py's request sentence.
TRANSLATE_INSTRUCTION = "Remember that the question and options can be in different languages. First translate them all to English. Then output the answer."
TRANSLATE_REQUEST = "Translate the question and options into English, and then answer."
QUESTION_PREFIX = "Question: "
STUDY_TRANSLATE_TOKENS = 256  # CKB MMLU/scripts/intervention/llama3.sh --max_token
TOFU_MAX_LENGTH = 200  # locuslab/tofu config/eval_everything.yaml generation.max_length (prompt included)
HARNESS_TOFU_TOKENS = 200


def check_protocol(name: str) -> str:
    if name not in PROTOCOLS:
        raise InputError(f"--protocol: unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    return name


def subject_words(subject: str, protocol: str) -> str:
    """``high_school_geography`` as the MMLU header shows it: study keeps a space before every word."""
    words = subject.split("_")
    return "".join(" " + w for w in words) if protocol == STUDY else " ".join(words)


def hp_instruction(lang: str, native: str, protocol: str) -> str:
    """The HP-Quiz header sentence: the official one for en/de/es/fr/it under study, else xbench's native one."""
    return STUDY_HP_INSTRUCTIONS.get(lang, native) if protocol == STUDY else native


def study_rules(family: str | None) -> str:
    """The rules (mmlu, hp, tofu or generic) for a build of ``family``, as its card names it."""
    return FAMILY_RULES.get(family or "", GENERIC)


def answer_cue(rules: str, protocol: str) -> str:
    """What a question block ends with: HP/evaluate.py leaves a trailing space after ``Answer:``."""
    return "\nAnswer: " if protocol == STUDY and rules == HP else "\nAnswer:"


def study_option_token(tokenizer, label: str) -> int:
    """CKB hf.py / HP/evaluate.py: the last id of the letter encoded alone (special tokens included)."""
    ids = tokenizer(label)["input_ids"]
    if not ids:
        raise InputError(f"option id {label!r} encodes to no token with this tokenizer")
    return int(ids[-1])


def first_token_matches(text: str, label: str, protocol: str) -> bool:
    """Whether a model's first answer token (decoded) names option ``label``.

    Both protocols compare after stripping whitespace, so ``" A"`` counts as A. study: the
    paper's rule (§ E.2: greedy decoding, and Llama-3-8B, whose tokenizer makes ``" A"`` one
    token, scores slightly higher with the first token than with max-probability, which only
    holds if ``" A"`` is A). The released code differs: it samples (``do_sample=True`` in CKB
    hf.py ``query_generation``) and compares whole strings (``pred == label``), under which
    ``" A"`` is wrong; xbench follows the paper. harness: stripped, as lm-eval's answer filters.
    """
    del protocol  # one rule for both protocols since the paper's § E.2; kept for callers
    return text.strip() == label


_ANSWER = re.compile(r"Answer:[ \t]*")


def read_written_answer(generation: str, labels: Sequence[str]) -> int:
    """The option a translate-then-answer generation chose, or -1.

    The demos end in ``Answer: X``, so after writing the English question and options the model
    is expected to write the same: the answer is the option id that follows the first
    ``Answer:`` of the generation (spaces and tabs between them allowed), when the id is not
    the start of a longer word. A generation without one scores as wrong, as the paper counts
    models that "merely continue generating text without outputting the desired answer".
    """
    match = _ANSWER.search(generation)
    if match is None:
        return -1
    rest = generation[match.end() :]
    for index, label in enumerate(labels):
        if rest.startswith(label) and not rest[len(label) : len(label) + 1].isalnum():
            return index
    return -1


@dataclass(frozen=True)
class TofuTemplate:
    """A TOFU model family's tags (locuslab/tofu config/model_config.yaml)."""

    start: str
    end: str
    answer: str
    keep_answer_tag: bool  # False where TOFU's run_generation cuts the prompt before the answer tag

    def render(self, question: str) -> str:
        return self.start + question + self.end + (self.answer if self.keep_answer_tag else "")


TOFU_TEMPLATES = {
    "llama2": TofuTemplate("[INST] ", " [/INST]", "", True),
    "phi": TofuTemplate("Question: ", "\n", "Answer: ", False),
    "stablelm": TofuTemplate("Question: ", "\n", "Answer: ", False),
    "pythia": TofuTemplate("Question: ", "\n", "Answer: ", False),
    "plain": TofuTemplate("Question: ", "\nAnswer:", "", True),  # xbench's template for other models
}
TEMPLATE_CHOICES = ("auto", *TOFU_TEMPLATES)
# transformers model_type -> TOFU family
_FAMILY_OF_MODEL_TYPE = {"llama": "llama2", "phi": "phi", "stablelm": "stablelm", "gpt_neox": "pythia"}


def check_template(name: str) -> str:
    if name not in TEMPLATE_CHOICES:
        raise InputError(f"--tofu-template: unknown template {name!r}; choose from {', '.join(TEMPLATE_CHOICES)}")
    return name


def tofu_template_name(name: str, model_type: str | None) -> str:
    """``auto``: the TOFU family of the model's architecture, ``plain`` for architectures TOFU has no template for."""
    check_template(name)
    if name != "auto":
        return name
    return _FAMILY_OF_MODEL_TYPE.get(model_type or "", "plain")


def auto_dtype(kind: str, device: str, protocol: str, bf16_supported: bool) -> str:
    """``--dtype auto``: study follows the official code on GPU (``kind``: the study rules); CPU keeps float32."""
    if not device.startswith("cuda"):
        return "float32"
    if protocol == STUDY:
        return "float16" if kind == MMLU else "bfloat16"
    return "bfloat16" if bf16_supported else "float32"
