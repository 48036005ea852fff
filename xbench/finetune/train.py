"""``finetune(config)``: one run on the transformers Trainer (accelerate underneath; no loop of our own).

Distributed runs start the same command under ``torchrun`` or ``accelerate launch`` (DDP, FSDP,
DeepSpeed ZeRO-3: see ``xbench finetune --print-accelerate-config``); the Trainer reads the
launcher's environment, each rank trains on its share of every effective batch, rank 0 writes.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xbench import __version__
from xbench.device import resolve_device
from xbench.errors import InputError, XbenchError
from xbench.finetune.config import FinetuneConfig, Hyperparameters, max_length, resolve, validate
from xbench.finetune.data import TrainingData, read_corpus, training_data
from xbench.finetune.report import CHECKPOINTS, LOSS_PLOT, RUN_CONFIG, FinetuneReport, plot_losses
from xbench.quiet import silence_libraries

DRY_RUN_STEPS = 3  # the first step pays for start-up; the estimate uses the ones after it
PACKAGES = ("torch", "transformers", "accelerate", "peft", "datasets", "tokenizers", "numpy")


@dataclass
class ProgressEvent:
    step: int
    total: int
    loss: float | None
    tokens_per_second: float
    eta_seconds: float | None


Progress = Callable[[ProgressEvent], None]


def finetune(config: FinetuneConfig, progress: Progress | None = None) -> FinetuneReport:
    """Fine-tune ``config.model`` on ``config.data``; the result is a plain Hugging Face folder in ``config.out``."""
    return _run(config, progress, dry_run=False)


def estimate(config: FinetuneConfig, progress: Progress | None = None) -> FinetuneReport:
    """The dry run: steps, tokens and the time a run would take, from a few measured steps; writes nothing to ``out``."""
    return _run(config, progress, dry_run=True)


# --- setup -----------------------------------------------------------------------------------


def check_output_folder(out: Path, resume: bool) -> str | None:
    """None for a fresh run; the checkpoint to resume from with ``resume``. Never deletes anything."""
    from transformers.trainer_utils import get_last_checkpoint

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    ours = (out / RUN_CONFIG).is_file()
    checkpoints = out / CHECKPOINTS
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if resume:
        if not ours or last is None:
            raise InputError(f"--resume: {out} holds no checkpoint of an xbench finetune run")
        return last
    if out.is_dir() and any(out.iterdir()):
        if ours:
            raise InputError(f"--out {out}: holds an earlier run; pass --resume to continue it, or choose another folder")
        raise InputError(f"--out {out}: the folder is not empty; choose a new or empty folder")
    return None


def _processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _load(model: str):
    """The model in float32 (bf16 training is autocast over float32 master weights) and its tokenizer."""
    from xbench.runner.model import load_model, plain_copy

    try:
        loaded = load_model(model, dtype="float32", device="cpu")
    except InputError:
        raise
    except XbenchError as err:
        if Path(model).expanduser().exists():
            raise InputError(f"--model {model}: does not load ({err})") from None
        raise
    network = loaded.model
    if Path(model).suffix == ".gguf":
        network = plain_copy(network)
    tokenizer = loaded.tokenizer
    if tokenizer.pad_token is None:  # as locuslab/tofu: pad with EOS (padding never carries a label)
        tokenizer.pad_token = tokenizer.eos_token
    network.train()
    return network, tokenizer


def _with_lora(model, hp: Hyperparameters):
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise XbenchError("--lora-r needs peft: pip install 'xbench[finetune]'") from None
    import torch

    # every linear layer but the output head, as locuslab/tofu finetune.py find_all_linear_names
    targets = sorted({name.split(".")[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)} - {"lm_head"})
    lora = LoraConfig(r=hp.lora_r, lora_alpha=hp.lora_alpha, lora_dropout=hp.lora_dropout, target_modules=targets, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    if hp.gradient_checkpointing:
        model.enable_input_require_grads()
    return model


def training_arguments(hp: Hyperparameters, output_dir: Path, *, device: str, kind: str, save: bool):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=hp.per_device_batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        learning_rate=hp.learning_rate,
        weight_decay=hp.weight_decay,
        max_steps=hp.max_steps,
        warmup_steps=hp.warmup_steps,
        lr_scheduler_type=hp.lr_scheduler,
        optim=hp.optimizer,
        seed=hp.seed,
        bf16=hp.bf16,
        activation_checkpointing=hp.gradient_checkpointing,
        logging_steps=hp.logging_steps,
        save_strategy="steps" if save else "no",
        save_steps=hp.save_steps,
        save_total_limit=1,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        # packed blocks have no attention mask: every block is full but the last
        include_num_input_tokens_seen="non_padding" if kind == "qa" else "all",
        use_cpu=device == "cpu",
        ddp_find_unused_parameters=False,
        dataloader_pin_memory=device != "cpu",
    )


def _watch(progress: Progress | None):
    """A Trainer callback: progress events (rank 0) and the time of every optimizer step."""
    from transformers import TrainerCallback

    class Watch(TrainerCallback):
        def __init__(self):
            self.step_times: list[float] = []
            self.last_loss: float | None = None
            self.started, self.first_tokens, self.first_step = time.perf_counter(), 0, 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.started, self.first_tokens, self.first_step = time.perf_counter(), state.num_input_tokens_seen, state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.last_loss = float(logs["loss"])
                self._report(state)

        def on_step_end(self, args, state, control, **kwargs):
            self.step_times.append(time.perf_counter())
            if state.global_step % args.logging_steps:  # logging steps report from on_log, with their loss
                self._report(state)

        def _report(self, state):
            if progress is None or not state.is_world_process_zero:
                return
            elapsed = time.perf_counter() - self.started
            done = state.global_step - self.first_step
            rate = (state.num_input_tokens_seen - self.first_tokens) / elapsed if elapsed > 0 else 0.0
            eta = elapsed / done * (state.max_steps - state.global_step) if done else None
            progress(ProgressEvent(state.global_step, state.max_steps, self.last_loss, rate, eta))

    return Watch()


def _peak_memory(device: str) -> tuple[int, str]:
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated()), "cuda_max_allocated"
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "cpu_max_rss"


def _losses(log_history: list[dict[str, Any]]) -> list[dict[str, float]]:
    return [
        {"step": entry["step"], "loss": entry["loss"], "learning_rate": entry.get("learning_rate", 0.0)}
        for entry in log_history
        if "loss" in entry and "step" in entry
    ]


def _data_summary(corpus, data: TrainingData, max_length: int) -> dict[str, Any]:
    return {
        "folder": corpus.folder,
        "config": corpus.config,
        "split": corpus.split,
        "kind": corpus.kind,
        "column": corpus.column,
        "rows": len(corpus.rows),
        "examples": data.examples,
        "tokens": data.tokens,
        "max_length": max_length,
        "build_dataset": corpus.build.get("dataset"),
        "build_signature": corpus.build.get("translator"),
        "build_seed": corpus.build.get("seed"),
        "build_xbench_version": corpus.build.get("xbench_version"),
    }


def _run_settings(config: FinetuneConfig, hp: Hyperparameters) -> dict[str, Any]:
    """What --resume compares: the requested run, minus the flags that only say how to run it."""
    requested = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items() if k not in ("resume", "out", "device")}
    return {"config": requested, "hyperparameters": hp.to_dict()}


def _main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


# --- the run ---------------------------------------------------------------------------------


def _run(config: FinetuneConfig, progress: Progress | None, *, dry_run: bool) -> FinetuneReport:
    from xbench.runner.model import require_torch
    from xbench.runner.results import git_commit, package_versions

    torch = require_torch()
    validate(config)
    out = Path(config.out).expanduser()
    resume_from = None if dry_run else check_output_folder(out, config.resume)
    device = resolve_device(config.device)
    corpus = read_corpus(config.data, split=config.split, text_column=config.text_column)
    silence_libraries()
    model, tokenizer = _load(config.model)
    bf16_available = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    data = training_data(corpus, tokenizer, max_length=max_length(config), qa_template=config.qa_template)
    hp = resolve(config, examples=data.examples, processes=_processes(), bf16_available=bf16_available)
    if dry_run:
        hp = Hyperparameters(**{**hp.to_dict(), "max_steps": min(DRY_RUN_STEPS, hp.max_steps)})
    settings = _run_settings(config, hp)
    if resume_from is not None:
        saved = json.loads((out / RUN_CONFIG).read_text(encoding="utf-8"))
        if saved != settings:
            changed = sorted(k for part in ("config", "hyperparameters") for k in settings[part] if saved.get(part, {}).get(k) != settings[part][k])
            raise InputError(f"--resume: {out} was started with other settings ({', '.join(changed)})")

    from transformers import Trainer, set_seed
    from transformers.trainer_callback import PrinterCallback

    scratch = tempfile.TemporaryDirectory(prefix="xbench-finetune-") if dry_run else None
    output_dir = Path(scratch.name) if scratch else out / CHECKPOINTS
    args = training_arguments(hp, output_dir, device=device, kind=data.kind, save=not dry_run)
    if not dry_run and resume_from is None:
        _barrier()  # every rank has checked the folder before rank 0 writes to it
        if _main_process():
            out.mkdir(parents=True, exist_ok=True)
            (out / RUN_CONFIG).write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    set_seed(hp.seed)
    if hp.lora_r:
        model = _with_lora(model, hp)
    model.config.use_cache = False  # a cache would switch off the packed-sequence mask
    watch = _watch(progress)
    trainer = Trainer(model=model, args=args, train_dataset=data.dataset, data_collator=data.collate, processing_class=tokenizer, callbacks=[watch])
    trainer.remove_callback(PrinterCallback)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=resume_from)
    except torch.OutOfMemoryError:
        raise XbenchError(
            f"out of GPU memory at per-device batch {hp.per_device_batch_size}; lower --batch-size (the accumulation grows to keep the "
            "effective batch), add --gradient-checkpointing, or shard with --print-accelerate-config fsdp; --resume continues from the last checkpoint"
        ) from None
    finally:
        if scratch is not None:
            scratch.cleanup()
    wall = time.perf_counter() - started
    peak, peak_kind = _peak_memory(device)
    tokens_seen = int(trainer.state.num_input_tokens_seen)

    if dry_run:
        full = resolve(config, examples=data.examples, processes=_processes(), bf16_available=bf16_available)
        gaps = [b - a for a, b in zip(watch.step_times, watch.step_times[1:])]
        per_step = sum(gaps) / len(gaps) if gaps else wall
        tokens_per_step = tokens_seen / max(1, hp.max_steps)
        return FinetuneReport(
            model=config.model,
            out=str(out),
            data=_data_summary(corpus, data, hp.max_length),
            hyperparameters=full.to_dict(),
            steps=full.max_steps,
            tokens_seen=round(tokens_per_step * full.max_steps),
            losses=_losses(trainer.state.log_history),
            train_loss=None,
            wall_seconds=wall,
            peak_memory_bytes=peak,
            peak_memory_kind=peak_kind,
            device=device,
            saved="nothing",
            resumed_from=None,
            packages=package_versions_for(PACKAGES, package_versions),
            git_commit=git_commit(),
            xbench_version=__version__,
            dry_run=True,
            estimate={"measured_steps": hp.max_steps, "seconds_per_step": per_step, "estimated_seconds": per_step * full.max_steps},
        )

    trainer.accelerator.unwrap_model(trainer.model).config.use_cache = True  # the saved model generates with a cache
    saved = _save(trainer, tokenizer, hp, out)
    losses = _losses(trainer.state.log_history)
    report = FinetuneReport(
        model=config.model,
        out=str(out),
        data=_data_summary(corpus, data, hp.max_length),
        hyperparameters=hp.to_dict(),
        steps=int(trainer.state.global_step),
        tokens_seen=tokens_seen,
        losses=losses,
        train_loss=float(result.training_loss),
        wall_seconds=wall,
        peak_memory_bytes=peak,
        peak_memory_kind=peak_kind,
        device=device,
        saved=saved,
        resumed_from=str(resume_from) if resume_from else None,
        packages=package_versions_for(PACKAGES, package_versions),
        git_commit=git_commit(),
        xbench_version=__version__,
    )
    if trainer.is_world_process_zero():
        report.write(out)
        plot_losses(losses, out / LOSS_PLOT, f"{config.model} on {corpus.folder}:{corpus.config}")
    _barrier()
    return report


def _save(trainer, tokenizer, hp: Hyperparameters, out: Path) -> str:
    """Full fine-tuning and merged LoRA: a plain HF folder; LoRA without merge: the peft adapter."""
    if not hp.lora_r:
        trainer.save_model(str(out))  # gathers FSDP / ZeRO-3 shards; writes the tokenizer too
        _drop_training_args(out)
        return "model"
    if not hp.merge_lora:
        trainer.save_model(str(out))
        _drop_training_args(out)
        return "adapter"
    trainer.save_model(str(out / "adapter"))
    _drop_training_args(out / "adapter")
    if trainer.is_world_process_zero():
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        merged.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
    return "model"


def _drop_training_args(folder: Path) -> None:
    """training_args.bin is a pickle; the run's settings live in finetune_config.json instead."""
    if _main_process():
        (folder / "training_args.bin").unlink(missing_ok=True)


def package_versions_for(names: tuple[str, ...], known: Callable[[], dict[str, str]]) -> dict[str, str]:
    import importlib.metadata

    versions = dict(known())
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
