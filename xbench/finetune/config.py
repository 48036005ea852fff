"""What a fine-tuning run is: a config dataclass, recipes as data files, and the resolved settings.

A recipe (``recipes/<name>.json``) fills every hyperparameter the user leaves as ``None``; the
resolved values, not the requested ones, go into the run's report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from xbench.errors import InputError

QA_TEMPLATES = {
    # locuslab/tofu config/model_config.yaml: (question_start_tag, question_end_tag, answer_tag)
    "question-answer": ("Question: ", "\n", "Answer: "),  # phi, stablelm, pythia
    "llama2-chat": ("[INST] ", " [/INST]", ""),  # llama2-7b
}
CHAT_TEMPLATE = "chat"  # the tokenizer's own chat template: user = question, assistant = answer
WARMUP_RULES = ("one_epoch",)  # locuslab/tofu finetune.py: warmup_steps = max(1, max_steps // num_epochs)
ACCELERATE_CONFIGS = ("fsdp", "zero3")


@dataclass
class FinetuneConfig:
    """One fine-tuning run. ``None`` means: take the recipe's value."""

    model: str
    data: str  # a build folder, ``FOLDER:CONFIG`` for one of its configs
    out: str | Path
    recipe: str = "study"
    split: str = "train"
    text_column: str | None = None  # default: "text" if present, else question/answer
    qa_template: str = "question-answer"
    max_length: int | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    epochs: float | None = None
    max_steps: int | None = None
    effective_batch_size: int | None = None
    per_device_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    warmup_steps: int | None = None
    lr_scheduler: str | None = None
    optimizer: str | None = None
    seed: int | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    merge_lora: bool = False
    bf16: bool | None = None  # default: on where the GPU supports it
    gradient_checkpointing: bool = False
    save_steps: int = 50
    logging_steps: int = 1
    resume: bool = False
    device: str = "auto"


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str
    values: dict[str, Any] = field(default_factory=dict)


RECIPE_KEYS = (
    "learning_rate",
    "weight_decay",
    "effective_batch_size",
    "per_device_batch_size",
    "epochs",
    "seed",
    "max_length",
    "warmup",
    "lr_scheduler",
    "optimizer",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
)


def available_recipes() -> list[str]:
    return sorted(p.name.removesuffix(".json") for p in resources.files("xbench.finetune").joinpath("recipes").iterdir() if p.name.endswith(".json"))


def load_recipe(name: str) -> Recipe:
    if name not in available_recipes():
        raise InputError(f"--recipe: unknown recipe {name!r}; choose from {', '.join(available_recipes())}")
    data = json.loads(resources.files("xbench.finetune").joinpath("recipes", f"{name}.json").read_text(encoding="utf-8"))
    return Recipe(data["name"], data["source"], {k: data[k] for k in RECIPE_KEYS})


def accelerate_config(kind: str) -> str:
    """The text of a shipped ``accelerate launch --config_file`` for ``fsdp`` or ``zero3``."""
    if kind not in ACCELERATE_CONFIGS:
        raise InputError(f"--print-accelerate-config: unknown config {kind!r}; choose fsdp or zero3")
    return resources.files("xbench.finetune").joinpath("accelerate", f"{kind}.yaml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Hyperparameters:
    """Every value a run trains with, after the recipe and the available processes are applied."""

    recipe: str
    recipe_source: str
    learning_rate: float
    weight_decay: float
    epochs: float
    max_steps: int
    effective_batch_size: int
    per_device_batch_size: int
    gradient_accumulation_steps: int
    processes: int
    warmup_steps: int
    lr_scheduler: str
    optimizer: str
    seed: int
    max_length: int
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    merge_lora: bool
    bf16: bool
    gradient_checkpointing: bool
    save_steps: int
    logging_steps: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _positive(name: str, value: Any, kind: type = int) -> None:
    if value is not None and (not isinstance(value, (int, float)) or value <= 0 or (kind is int and int(value) != value)):
        raise InputError(f"--{name.replace('_', '-')}: must be a positive {'integer' if kind is int else 'number'}, got {value!r}")


def validate(config: FinetuneConfig) -> None:
    """Option checks that need neither the model nor the data."""
    for name in ("max_length", "max_steps", "effective_batch_size", "per_device_batch_size", "gradient_accumulation_steps", "save_steps", "logging_steps"):
        _positive(name, getattr(config, name))
    for name in ("learning_rate", "epochs"):
        _positive(name, getattr(config, name), float)
    for name in ("weight_decay", "lora_dropout", "warmup_steps", "lora_r"):
        value = getattr(config, name)
        if value is not None and value < 0:
            raise InputError(f"--{name.replace('_', '-')}: must not be negative, got {value!r}")
    if config.qa_template not in (*QA_TEMPLATES, CHAT_TEMPLATE):
        raise InputError(f"--qa-template: unknown template {config.qa_template!r}; choose from {', '.join((*QA_TEMPLATES, CHAT_TEMPLATE))}")
    if config.merge_lora and not config.lora_r:
        raise InputError("--merge-lora: needs --lora-r > 0 (full fine-tuning has nothing to merge)")


def resolve(config: FinetuneConfig, *, examples: int, processes: int, bf16_available: bool) -> Hyperparameters:
    """The run's hyperparameters: user values over the recipe; accumulation from the effective batch.

    effective batch = per-device batch x gradient accumulation x processes, as locuslab/tofu's
    finetune.py computes it; steps = floor(epochs x examples / effective batch) unless --max-steps.
    """
    validate(config)
    recipe = load_recipe(config.recipe)
    pick = lambda name: getattr(config, name) if getattr(config, name) is not None else recipe.values[name]  # noqa: E731
    per_device = int(pick("per_device_batch_size"))
    if config.gradient_accumulation_steps is not None:
        accumulation = config.gradient_accumulation_steps
        effective = per_device * accumulation * processes
        if config.effective_batch_size is not None and config.effective_batch_size != effective:
            raise InputError(
                f"--effective-batch-size {config.effective_batch_size}: per-device batch {per_device} x accumulation {accumulation} x {processes} process(es) = {effective}"
            )
    else:
        effective = int(pick("effective_batch_size"))
        if effective % (per_device * processes):
            raise InputError(
                f"--effective-batch-size {effective}: not a multiple of per-device batch {per_device} x {processes} process(es); change --per-device-batch-size"
            )
        accumulation = effective // (per_device * processes)
    epochs = float(pick("epochs"))
    if config.max_steps is not None:
        steps = config.max_steps
    else:
        steps = int(epochs * examples) // effective
        if steps < 1:
            raise InputError(
                f"--data {config.data}: {examples} training examples, fewer than one effective batch of {effective}; lower --effective-batch-size or set --max-steps"
            )
    warmup = config.warmup_steps if config.warmup_steps is not None else max(1, int(steps // epochs))
    if config.bf16 and not bf16_available:
        raise InputError("--bf16: this device has no bfloat16 support")
    lora_r = int(pick("lora_r"))
    if config.merge_lora and not lora_r:
        raise InputError("--merge-lora: needs --lora-r > 0 (full fine-tuning has nothing to merge)")
    return Hyperparameters(
        recipe=recipe.name,
        recipe_source=recipe.source,
        learning_rate=float(pick("learning_rate")),
        weight_decay=float(pick("weight_decay")),
        epochs=epochs,
        max_steps=steps,
        effective_batch_size=effective,
        per_device_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        processes=processes,
        warmup_steps=warmup,
        lr_scheduler=str(pick("lr_scheduler")),
        optimizer=str(pick("optimizer")),
        seed=int(pick("seed")),
        max_length=int(pick("max_length")),
        lora_r=lora_r,
        lora_alpha=int(pick("lora_alpha")),
        lora_dropout=float(pick("lora_dropout")),
        merge_lora=config.merge_lora,
        bf16=bf16_available if config.bf16 is None else config.bf16,
        gradient_checkpointing=config.gradient_checkpointing,
        save_steps=config.save_steps,
        logging_steps=config.logging_steps,
    )


def max_length(config: FinetuneConfig) -> int:
    """Tokens per block or example: the user's value, else the recipe's."""
    return config.max_length if config.max_length is not None else int(load_recipe(config.recipe).values["max_length"])
