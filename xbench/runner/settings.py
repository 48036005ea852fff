"""What an evaluation scores and how it prompts: one typed object for a run (``evaluate``) and its ``--dry-run`` plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from xbench.errors import InputError
from xbench.runner import prompts, protocols
from xbench.runner.results import PromptSettings

DEMO_SOURCES = ("english", "same", "translate")
STUDY_TRANSLATE_INSTRUCTION = "aware2"  # recorded name of the study's translate-then-answer instruction


@dataclass(frozen=True)
class EvalSettings:
    """The rows to score (configs, split, subjects, limit or sample) and every setting that shapes their prompts and scores."""

    configs: Sequence[str] | None = None  # None: every config of the dataset
    split: str = "test"
    shots: int = 0
    demos: str = "english"  # english | same | translate
    ids: str = "ABCD"  # ABCD | abcd | 1234
    instruction: str = "none"  # none | aware0 | aware1
    strategy: str = "maxprob"  # maxprob | first-token
    protocol: str = protocols.DEFAULT_PROTOCOL  # study | harness
    limit: int | None = None  # the first N rows
    sample: int | None = None  # a seeded random N rows, stratified by subject or category (runner/sampling.py)
    sample_seed: int = 0
    subjects: Sequence[str] | None = None
    apply_chat_template: bool = False
    system_prompt: str | None = None
    max_new_tokens: int | None = None  # generation; None: the protocol's budget
    rouge_tokenizer: str = "default"  # generation: default | unicode
    tofu_template: str = "auto"  # TOFU under study: auto | llama2 | phi | stablelm | pythia | plain

    def checked(self) -> EvalSettings:
        """These settings once every value is checked (an InputError names the flag).

        The study's translate-then-answer has an instruction of its own: it is recorded as
        ``aware2``, so ``--instruction`` must be left out.
        """
        protocols.check_protocol(self.protocol)
        protocols.check_template(self.tofu_template)
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise InputError("--max-new-tokens: must be at least 1")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"--limit: must be at least 1, got {self.limit}")
        if self.sample is not None and self.sample < 1:
            raise InputError(f"--sample: must be at least 1, got {self.sample}")
        if self.sample is not None and self.limit is not None:
            raise InputError("--sample and --limit: give one (--limit takes the first N rows, --sample a stratified random N)")
        prompts.option_ids(self.ids)
        prompts.check_instruction(self.instruction)
        if self.demos not in DEMO_SOURCES:
            raise InputError(f"--demos: unknown demo source {self.demos!r}; choose from {', '.join(DEMO_SOURCES)}")
        if self.shots < 0:
            raise InputError("--shots: must be 0 or more")
        if self.protocol == protocols.STUDY and self.demos == "translate":
            if self.instruction != "none":
                raise InputError("--instruction: the study's translate-then-answer has its own instruction (INTERV_PROMPTS[2]); leave --instruction out")
            return dataclasses.replace(self, instruction=STUDY_TRANSLATE_INSTRUCTION)
        return self

    @property
    def labels(self) -> tuple[str, ...]:
        """The option IDs, e.g. ("A", "B", "C", "D")."""
        return prompts.option_ids(self.ids)

    @property
    def prompt(self) -> PromptSettings:
        """The settings that decide a multiple-choice prompt and its score (the signature and resume key derive from them)."""
        return PromptSettings(self.shots, self.demos, self.ids, self.instruction, self.strategy, self.protocol, self.apply_chat_template, self.system_prompt)
