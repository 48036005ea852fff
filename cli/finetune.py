"""`xbench finetune`: fine-tune a causal LM on a build."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .options import DeviceOption, OptionalModelOption, QuietOption
from .output import err_console, exit_codes, out_console


@exit_codes
def finetune(
    model: OptionalModelOption = None,
    data: Annotated[str | None, typer.Option("--data", help="A build folder, FOLDER:CONFIG for one of its configs (text column, or question/answer).")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="New or empty folder: the fine-tuned model, train_report.json, loss.png, checkpoints/.")
    ] = None,
    recipe: Annotated[str, typer.Option(help="Hyperparameters every unset option takes: study (the paper's) or tofu.")] = "study",
    split: Annotated[str, typer.Option(help="Split to train on.")] = "train",
    text_column: Annotated[str | None, typer.Option(help="Train on this text column (default: text, else question/answer pairs).")] = None,
    qa_template: Annotated[
        str,
        typer.Option(
            help="QA data: question-answer (TOFU's phi/pythia/stablelm template), llama2-chat ([INST] ... [/INST]) or chat (the tokenizer's chat template)."
        ),
    ] = "question-answer",
    max_length: Annotated[int | None, typer.Option(help="Tokens per packed block / per QA example (study: 500).")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate (study: 2e-5).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay (study: 0.01).")] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the data (study: 1).")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Optimizer steps instead of epochs (study, WikiText-103: 200 for Llama-3-8B, 400 for Llama-2-7B).")
    ] = None,
    effective_batch_size: Annotated[int | None, typer.Option(help="Examples per optimizer step = batch x accumulation x processes (study: 32).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Examples per device per forward pass (study: 2).")] = None,
    gradient_accumulation_steps: Annotated[int | None, typer.Option(help="Default: effective batch / (batch x processes).")] = None,
    warmup_steps: Annotated[int | None, typer.Option(help="Linear warm-up steps (study, as locuslab/tofu: max(1, steps // epochs)).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (study: 42).")] = None,
    lora_r: Annotated[int | None, typer.Option(help="LoRA rank; 0 = full fine-tuning (study).")] = None,
    lora_alpha: Annotated[int | None, typer.Option(help="LoRA alpha (study config: 32).")] = None,
    merge_lora: Annotated[
        bool, typer.Option("--merge-lora", help="Save the LoRA weights merged into a plain model (the adapter goes to OUT/adapter).")
    ] = False,
    bf16: Annotated[bool | None, typer.Option("--bf16/--no-bf16", help="bfloat16 mixed precision (default: on where the GPU supports it).")] = None,
    gradient_checkpointing: Annotated[
        bool, typer.Option("--gradient-checkpointing", help="Recompute activations in the backward pass: less memory, more time.")
    ] = False,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps (OUT/checkpoints); a crash loses at most N steps.")] = 50,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in OUT from its last checkpoint.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print steps, tokens and a time estimate from a few measured steps; write nothing.")] = False,
    device: DeviceOption = "auto",
    print_accelerate_config: Annotated[
        str | None, typer.Option("--print-accelerate-config", help="Print an accelerate config (fsdp or zero3) for `accelerate launch --config_file` and exit.")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Fine-tune a causal LM on a built dataset (the study's English and mixed-language fine-tuning)."""
    from xbench.built_dataset import check_dataset
    from xbench.errors import InputError
    from xbench.finetune import FinetuneConfig, accelerate_config, estimate
    from xbench.finetune import finetune as run_finetune
    from xbench.finetune.data import parse_data

    if print_accelerate_config is not None:
        sys.stdout.write(accelerate_config(print_accelerate_config))
        return
    for name, value in (("--model", model), ("--data", data), ("--out", out)):
        if value is None:
            raise InputError(f"{name}: required")
    check_dataset(parse_data(data)[0], "--data", hub=False)  # before the model is loaded
    config = FinetuneConfig(
        model=model,
        data=data,
        out=out,
        recipe=recipe,
        split=split,
        text_column=text_column,
        qa_template=qa_template,
        max_length=max_length,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        epochs=epochs,
        max_steps=max_steps,
        effective_batch_size=effective_batch_size,
        per_device_batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        warmup_steps=warmup_steps,
        seed=seed,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        merge_lora=merge_lora,
        bf16=bf16,
        gradient_checkpointing=gradient_checkpointing,
        save_steps=save_steps,
        resume=resume,
        device=device,
    )
    try:
        with _training_progress(quiet) as on_step:
            report = (estimate if dry_run else run_finetune)(config, progress=on_step)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: {out} keeps its last checkpoint; continue with --resume")
        raise typer.Exit(130) from None
    hp = report.hyperparameters
    batch = f"effective batch {hp['effective_batch_size']} = {hp['per_device_batch_size']} x {hp['gradient_accumulation_steps']} x {hp['processes']}"
    if dry_run:
        seconds = report.estimate["estimated_seconds"]
        out_console.print(
            f"{report.steps:,} steps, {batch}, ~{report.tokens_seen:,} tokens; {report.estimate['seconds_per_step']:.2f}s per step "
            f"measured over {report.estimate['measured_steps']} steps -> about {seconds / 60:.1f} min on {report.device}; nothing written",
            highlight=False,
        )
        return
    loss = f"final loss {report.losses[-1]['loss']:.4f}, " if report.losses else ""
    out_console.print(
        f"{report.steps:,} steps, {batch}, {report.tokens_seen:,} tokens, {loss}{report.wall_seconds:.0f}s; wrote the {report.saved} to {report.out}",
        highlight=False,
    )


class _training_progress:
    """One progress bar for a training run: step, loss, tokens/s and ETA."""

    def __init__(self, quiet: bool):
        self.quiet = quiet or not sys.stderr.isatty()

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"), console=err_console)
        self.bar.start()
        task = self.bar.add_task("training", total=None, status="")

        def on_step(event) -> None:
            loss = f"loss {event.loss:.4f}  " if event.loss is not None else ""
            eta = f"  ETA {event.eta_seconds / 60:.1f} min" if event.eta_seconds is not None else ""
            self.bar.update(task, completed=event.step, total=event.total, status=f"{loss}{event.tokens_per_second:,.0f} tok/s{eta}")

        return on_step

    def __exit__(self, *exc) -> None:
        if not self.quiet:
            self.bar.stop()
