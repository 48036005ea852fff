"""Evaluate commands: score a model, report and export results, score outputs made elsewhere."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from .options import (
    ConfigsOption,
    DeviceOption,
    IdsOption,
    InstructionOption,
    ModelOption,
    QuietOption,
    RougeTokenizerOption,
    ThreadsOption,
    split_list,
    use_threads,
)
from .output import err_console, exit_codes, out_console, print_result

SERVER_BACKEND = "Server backend (OpenAI-compatible: OpenAI, vllm serve, TGI, llama.cpp)"

export_app = typer.Typer(help="Export a built dataset for other tools.", no_args_is_help=True)
score_app = typer.Typer(help="Score outputs produced elsewhere with xbench's metrics.", no_args_is_help=True)


@exit_codes
def eval_command(
    model: ModelOption,
    dataset: Annotated[str, typer.Option("--dataset", help="A folder written by xbench build, or a Hub dataset id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: <config>/results.json and samples.jsonl.")],
    configs: ConfigsOption = None,
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    shots: Annotated[int, typer.Option(help="Number of demos (first k dev rows of the subject).")] = 0,
    demos: Annotated[str, typer.Option(help="Demo rows: english (the en config), same (the same config) or translate (translate-then-answer).")] = "english",
    ids: IdsOption = "ABCD",
    instruction: InstructionOption = "none",
    strategy: Annotated[str, typer.Option(help="maxprob or first-token.")] = "maxprob",
    limit: Annotated[int | None, typer.Option(help="Score only the first N rows of each config (not a random sample: see --sample).")] = None,
    sample: Annotated[
        int | None, typer.Option(help="Score a random N rows of each config, stratified by subject or category; the same ids in every config.")
    ] = None,
    seed: Annotated[int, typer.Option(help="--sample: the seed that picks the rows.")] = 0,
    subjects: Annotated[str | None, typer.Option(help="Comma-separated subjects (MMLU).")] = None,
    dtype: Annotated[str, typer.Option(help="auto, float32, float16 or bfloat16.")] = "auto",
    device: DeviceOption = "auto",
    device_map: Annotated[str | None, typer.Option(help="'auto' spreads a model too large for one GPU over all of them (accelerate).")] = None,
    batch_size: Annotated[str, typer.Option(help="Questions per forward pass, or auto (1 on CPU).")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Keep the samples already written and score the rest.")] = False,
    max_new_tokens: Annotated[
        int | None,
        typer.Option(
            help="Greedy tokens per generation (default: TOFU's 200 incl. the prompt under study, 200 new under harness; 256 for study translate-then-answer)."
        ),
    ] = None,
    rouge_tokenizer: RougeTokenizerOption = "default",
    protocol: Annotated[str, typer.Option(help="study (the paper's official prompts and scoring) or harness (lm-evaluation-harness conventions).")] = "study",
    tokenizer: Annotated[
        str | None,
        typer.Option(
            help="Tokenizer Hub id or folder, for checkpoints whose tokenizer lives elsewhere (with --backend openai --dry-run: exact prompt token counts)."
        ),
    ] = None,
    apply_chat_template: Annotated[
        bool, typer.Option("--apply-chat-template", help="Wrap each prompt in the tokenizer's chat template (instruct models).")
    ] = False,
    system_prompt: Annotated[
        str | None, typer.Option(help="System prompt (a system turn with --apply-chat-template, else a paragraph before the prompt).")
    ] = None,
    tofu_template: Annotated[str, typer.Option(help="TOFU under study: auto (from the architecture), llama2, phi, stablelm, pythia or plain.")] = "auto",
    log_samples: Annotated[
        bool, typer.Option("--log-samples", help="Also write each full prompt into samples.jsonl (per-option scores are always there).")
    ] = False,
    threads: ThreadsOption = None,
    quiet: QuietOption = False,
    backend: Annotated[
        str, typer.Option(help="local (transformers) or openai (an OpenAI-compatible server at --base-url).", rich_help_panel=SERVER_BACKEND)
    ] = "local",
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="openai: server URL, e.g. http://localhost:8000/v1.", rich_help_panel=SERVER_BACKEND)
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="openai: environment variable holding the API key (never printed).", rich_help_panel=SERVER_BACKEND)
    ] = "OPENAI_API_KEY",
    endpoint: Annotated[str, typer.Option(help="openai: completions or chat.", rich_help_panel=SERVER_BACKEND)] = "completions",
    concurrency: Annotated[int, typer.Option(help="openai: requests in flight at once.", rich_help_panel=SERVER_BACKEND)] = 8,
    timeout: Annotated[float, typer.Option(help="openai: seconds before a request is retried.", rich_help_panel=SERVER_BACKEND)] = 60.0,
    response_cache: Annotated[
        Path | None, typer.Option(help="openai: response cache (SQLite); default under the user cache dir.", rich_help_panel=SERVER_BACKEND)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="openai: print the requests (JSONL) and prompt tokens; send nothing.", rich_help_panel=SERVER_BACKEND)
    ] = False,
) -> None:
    """Score a causal LM on configs of a built dataset; writes results.json and samples.jsonl per config."""
    from xbench.built_dataset import check_dataset
    from xbench.progress import ProgressDisplay
    from xbench.runner.evaluate import evaluate

    use_threads(threads)
    api = _api_options(backend, base_url, api_key_env, endpoint, concurrency, timeout, response_cache, tokenizer, dry_run)
    # What decides each prompt and its scoring: the same for a run and for its --dry-run plan.
    prompt_settings = {
        "configs": split_list(configs),
        "split": split,
        "shots": shots,
        "demos": demos,
        "ids": ids,
        "instruction": instruction,
        "strategy": strategy,
        "limit": limit,
        "sample": sample,
        "sample_seed": seed,
        "subjects": split_list(subjects),
        "protocol": protocol,
        "apply_chat_template": apply_chat_template,
        "system_prompt": system_prompt,
    }
    check_dataset(dataset)  # before any model is loaded
    if api is not None and dry_run:
        return _print_api_plan(model, dataset, api, **prompt_settings)
    with ProgressDisplay("scoring {key}", quiet=quiet) as shown, _resume_hint_on_interrupt(out):
        shown.note(f"loading {model}")  # a large model can take minutes before the first bar
        results = evaluate(
            model,
            dataset,
            out=out,
            **prompt_settings,
            dtype=dtype,
            device=device,
            device_map=device_map,
            batch_size=batch_size,
            resume=resume,
            max_new_tokens=max_new_tokens,
            rouge_tokenizer=rouge_tokenizer,
            progress=shown.update,
            log_samples=log_samples,
            tokenizer=tokenizer,
            tofu_template=tofu_template,
            api=api,
        )
    for result in results:
        print_result(result)


@contextlib.contextmanager
def _resume_hint_on_interrupt(out: Path):
    try:
        yield
    except KeyboardInterrupt:
        err_console.print(
            f"interrupted: the samples scored so far are kept in {out}; run the same command with --resume to continue", markup=False, highlight=False
        )
        raise typer.Exit(130) from None


def _api_options(backend, base_url, api_key_env, endpoint, concurrency, timeout, response_cache, tokenizer, dry_run):
    from xbench.errors import InputError

    if backend == "local":
        given = [name for name, value in (("--base-url", base_url), ("--dry-run", dry_run)) if value]
        if given:
            raise InputError(f"{', '.join(given)}: only with --backend openai")
        return None
    if backend != "openai":
        raise InputError(f"--backend: unknown backend {backend!r}; choose from local, openai")
    if not base_url:
        raise InputError("--backend openai: give --base-url (e.g. http://localhost:8000/v1 for vllm serve, https://api.openai.com/v1)")
    from xbench.runner.backends import ApiOptions

    return ApiOptions(base_url, api_key_env=api_key_env, endpoint=endpoint, concurrency=concurrency, timeout=timeout, cache=response_cache, tokenizer=tokenizer)


def _print_api_plan(model, dataset, api, **settings) -> None:
    import json

    from xbench.runner.evaluate import plan_api_requests
    from xbench.runner.settings import EvalSettings

    planned = plan_api_requests(model, dataset, api, EvalSettings(**settings))
    for request in planned:
        record = {
            "config": request.config,
            "id": request.id,
            "endpoint": request.endpoint,
            "prompt_tokens": request.prompt_tokens,
            "cached": request.cached,
            "body": request.body,
        }
        print(json.dumps(record, ensure_ascii=False))
    cached = sum(r.cached for r in planned)
    tokens = sum(r.prompt_tokens for r in planned if not r.cached)
    how = f"counted with {api.tokenizer}" if api.tokenizer else "estimated at 4 characters per token; pass --tokenizer for exact counts"
    err_console.print(f"dry run: {len(planned):,} requests, {cached:,} answered from the cache, {tokens:,} prompt tokens to send ({how})", highlight=False)


@score_app.command("tofu")
@exit_codes
def score_tofu(
    file: Annotated[Path, typer.Argument(help="JSONL: one object per line with 'generation' and 'reference' (other fields kept).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json and samples.jsonl.")],
    rouge_tokenizer: RougeTokenizerOption = "default",
    model: Annotated[str, typer.Option(help="Name of the model that generated the answers, for the results.")] = "external",
) -> None:
    """Score generations produced elsewhere with TOFU's ROUGE recall; same files as xbench eval."""
    from xbench.runner.generation import score_generations_file

    print_result(score_generations_file(file, out, rouge_tokenizer=rouge_tokenizer, model=model))


@exit_codes
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run folders written by xbench eval (or results.json files).")],
    plots: Annotated[Path | None, typer.Option(metavar="DIR", help="Folder for the plots (PNG and PDF): all models in one figure.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="DIR", help="Folder for report.md, report.csv and report.json (accuracy ± standard error, n).")
    ] = None,
) -> None:
    """Print accuracy ± standard error per model and config; write the tables and the plots."""
    from rich.table import Table

    from xbench.runner.plots import plot
    from xbench.runner.report import check_plot_target, collect, flag_lines, format_metric, result_table, write_tables
    from xbench.runner.transfer import run_comparisons, warnings, write_transfer

    if plots is not None:
        check_plot_target(plots)
    results = collect(runs)
    comparisons = run_comparisons(runs)  # refuses runs of different builds or items before anything is written
    configs, table = result_table(results)
    view = Table("model", *configs)
    for model, cells in table.items():
        view.add_row(model, *(f"{format_metric(cells[c].metric)} n={cells[c].n}" if c in cells else "-" for c in configs))
    out_console.print(view)
    if comparisons:
        paired = Table("model", "config", "n", "gap [95% CI]", "McNemar p", "transfer [95% CI]", "COverlap", "consistency", "RankC")
        for c in comparisons:
            g, t = c["gap"], c["transfer"]
            rankc = "n/a" if c["rankc"] is None else f"{c['rankc']:.3f}"
            paired.add_row(
                c["model"],
                c["config"],
                str(c["n"]),
                f"{g['value']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}]",
                f"{c['mcnemar_p']:.3g}",
                f"{t['value']:.3f} [{t['low']:.3f}, {t['high']:.3f}]",
                f"{c['coverlap']:.3f}",
                f"{c['consistency']:.3f}",
                rankc,
            )
        out_console.print(paired)
    for line in flag_lines(results) + warnings(comparisons):
        err_console.print(f"warning: {line}", markup=False, highlight=False)
    if out is not None:
        for path in write_tables(results, out) + (write_transfer(comparisons, out) if comparisons else []):
            out_console.print(f"wrote {path}", markup=False, highlight=False)
    if plots is not None:
        for path in plot(results, plots):
            out_console.print(f"wrote {path}", markup=False, highlight=False)


@export_app.command("lm-eval")
@exit_codes
def export_lm_eval_command(
    dataset: Annotated[str, typer.Argument(help="A folder written by xbench build, or a Hub dataset id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the task YAMLs (pass it to lm-eval as --include_path).")],
    configs: ConfigsOption = None,
    ids: IdsOption = "ABCD",
    instruction: InstructionOption = "none",
    protocol: Annotated[str, typer.Option(help="harness (lm-eval conventions) or study (the paper's header and option token; MMLU-style data).")] = "harness",
    tokenizer: Annotated[str | None, typer.Option(help="study: the model's tokenizer (Hub id or folder), to pick the continuation lm-eval scores.")] = None,
    dataset_path: Annotated[
        str | None,
        typer.Option(
            "--dataset-path",
            metavar="HUB_ID",
            help="Dataset the YAMLs load, e.g. the Hub id the build was pushed to (shareable tasks). [default: DATASET, a folder as its absolute path]",
        ),
    ] = None,
) -> None:
    """Write lm-evaluation-harness tasks with exactly the prompts of xbench eval."""
    from xbench.built_dataset import check_dataset
    from xbench.runner.export import export_lm_eval

    check_dataset(dataset, "")
    loaded_tokenizer = None
    if tokenizer is not None:
        from xbench.runner.model import load_tokenizer, require_torch

        require_torch()
        loaded_tokenizer = load_tokenizer(tokenizer)
    files = export_lm_eval(
        dataset,
        out,
        configs=split_list(configs),
        ids=ids,
        instruction=instruction,
        protocol=protocol,
        tokenizer=loaded_tokenizer,
        dataset_path=dataset_path,
    )
    out_console.print(
        f"wrote {len(files)} task files to {out}; run: lm_eval --model hf --model_args pretrained=MODEL "
        f"--include_path {out} --tasks {files[0].stem} --num_fewshot 0",
        markup=False,
        highlight=False,
    )
