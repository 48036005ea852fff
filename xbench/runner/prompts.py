"""Prompt templates: the prompt is the experiment, so every string here has an exact-string test.

MMLU follows the original MMLU code (Hendrycks et al.): a header naming the subject, k demos
``{question}\\nA. {c0}\\n...\\nAnswer: {letter}\\n\\n`` and the test question ending in
``\\nAnswer:``. Questions are not stripped. HP-Quiz uses its header written natively in the
config's language. Where the two protocols differ (the subject words, the HP-Quiz sentence and
cue, translate-then-answer), the rule and its official source are in
:mod:`xbench.runner.protocols`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xbench.built_dataset import ConfigMetadata
from xbench.errors import InputError
from xbench.runner import protocols

MMLU_HEADER = "The following are multiple choice questions (with answers) about {subject}."
GENERIC_HEADER = "The following are multiple choice questions (with answers)."
INSTRUCTIONS = {
    "none": "",
    "aware0": "Keep in mind that the question and options may be presented in various languages.",
    "aware1": "Remember that the question and options can be in different languages.",
}
OPTION_IDS = {"ABCD": ("A", "B", "C", "D"), "abcd": ("a", "b", "c", "d"), "1234": ("1", "2", "3", "4")}


def option_ids(name: str) -> tuple[str, ...]:
    try:
        return OPTION_IDS[name]
    except KeyError:
        raise InputError(f"--ids: unknown option ids {name!r}; choose from {', '.join(OPTION_IDS)}") from None


def check_instruction(name: str) -> str:
    if name not in INSTRUCTIONS:
        raise InputError(f"--instruction: unknown instruction {name!r}; choose from {', '.join(INSTRUCTIONS)}")
    return INSTRUCTIONS[name]


def header(sentence: str, instruction: str = "none") -> str:
    """The header sentence, the instruction (if any) after it, then a blank line."""
    extra = check_instruction(instruction)
    return f"{sentence} {extra}\n\n" if extra else f"{sentence}\n\n"


def mmlu_header_sentence(subject: str, protocol: str) -> str:
    return MMLU_HEADER.format(subject=protocols.subject_words(subject, protocol))


def header_sentence(row: Mapping[str, Any], metadata: ConfigMetadata, protocol: str) -> str:
    """The header sentence of a group of rows (``row``: one of them) of a config its card describes by ``metadata``.

    The config's own header in its language (HP-Quiz's, or the study's sentence for it), else the
    MMLU header naming the rows' subject, else the generic one.
    """
    if metadata.header is not None:
        if protocols.study_rules(metadata.family) == protocols.HP:
            return protocols.hp_instruction(metadata.language, metadata.header, protocol)
        return metadata.header
    if row.get("subject"):
        return mmlu_header_sentence(row["subject"], protocol)
    return GENERIC_HEADER


def question_block(question: str, choices: Sequence[str], ids: Sequence[str]) -> str:
    return question + "".join(f"\n{label}. {choice}" for label, choice in zip(ids, choices))


def format_example(question: str, choices: Sequence[str], ids: Sequence[str], answer: int | None = None, cue: str = "\nAnswer:") -> str:
    """One question block; with ``answer`` it is a demo ending in the letter and a blank line.

    ``cue`` ends the test question (HP-Quiz under the study protocol: ``"\\nAnswer: "``);
    demos always end in ``"\\nAnswer: X\\n\\n"``.
    """
    if answer is None:
        return question_block(question, choices, ids) + cue
    return question_block(question, choices, ids) + f"\nAnswer: {ids[answer]}\n\n"


TRANSLATE_CUE = "\nEnglish:"


def translate_demo(mixed: dict, english: dict, ids: Sequence[str]) -> str:
    """Translate-then-answer demo: the mixed question, its English version, then the answer."""
    return (
        question_block(mixed["question"], mixed["choices"], ids)
        + f"{TRANSLATE_CUE} "
        + question_block(english["question"], english["choices"], ids)
        + f"\nAnswer: {ids[mixed['answer']]}\n\n"
    )


def translate_query(question: str, choices: Sequence[str], ids: Sequence[str]) -> str:
    """The test question of translate-then-answer: the model continues with the English version."""
    return question_block(question, choices, ids) + TRANSLATE_CUE


def demo_block(demos: Sequence[dict], ids: Sequence[str]) -> str:
    return "".join(format_example(d["question"], d["choices"], ids, d["answer"]) for d in demos)


def study_translate_demo(mixed: dict, english: dict, ids: Sequence[str]) -> str:
    """Translate-then-answer demo of the study (CKB MMLU/dataset/mmlu_en_trans.py)."""
    return (
        protocols.QUESTION_PREFIX
        + question_block(mixed["question"], mixed["choices"], ids)
        + f"\nAnswer: \n{protocols.TRANSLATE_REQUEST}\n{protocols.QUESTION_PREFIX}"
        + question_block(english["question"], english["choices"], ids)
        + f"\nAnswer: {ids[mixed['answer']]}\n\n"
    )


def study_translate_query(question: str, choices: Sequence[str], ids: Sequence[str]) -> str:
    """The study's translate-then-answer test item: it stops where the model starts the English version."""
    return protocols.QUESTION_PREFIX + question_block(question, choices, ids) + f"\nAnswer: \n{protocols.TRANSLATE_REQUEST}\n{protocols.QUESTION_PREFIX}"


def wrap(text: str, tokenizer, *, chat_template: bool = False, system_prompt: str | None = None) -> str:
    """Harness-style instruct wrapping: the whole prompt as one user turn of the tokenizer's chat
    template (after a system turn), or, without a chat template, the system prompt and a blank
    line before it."""
    if not chat_template:
        return f"{system_prompt}\n\n{text}" if system_prompt else text
    if not getattr(tokenizer, "chat_template", None):
        raise InputError("--apply-chat-template: this tokenizer has no chat template; leave the option out or pass --tokenizer with one")
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [{"role": "user", "content": text}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
