"""xbench finetune: packing, TOFU masking, the Trainer run, save -> eval, resume, LoRA, bad input, 2 gloo ranks."""

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import torchrun_xbench, write_jsonl
from runner_fixtures import byte_level_tokenizer, save_tiny_model, sentencepiece_style_tokenizer
from typer.testing import CliRunner

import xbench
from xbench.cli import app
from xbench.errors import InputError
from xbench.finetune import FinetuneConfig, estimate, finetune, load_recipe
from xbench.finetune.config import resolve
from xbench.finetune.data import IGNORE, encode_qa, pack_token_lists, pad_qa_batch

SENTENCE = " The quick brown fox jumps over the lazy dog near the river bank . It was seen in Paris on Monday ."
QA_ROWS = [
    {"question": "Who wrote the book about the river?", "answer": "The book was written by Anna Lindqvist."},
    {"question": "Where was the fox seen?", "answer": "In Paris, on a Monday."},
    {"question": "What colour is the fox?", "answer": "Brown."},
    {"question": "What does the dog do?", "answer": "It sleeps near the bank."},
]
TINY = {"max_length": 48, "effective_batch_size": 4, "per_device_batch_size": 2, "device": "cpu"}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    save_tiny_model(root / "model")  # the tests load it from there
    wiki = root / "wiki"
    wiki.mkdir()
    (wiki / "wiki.train.txt").write_text("\n".join(SENTENCE.replace("fox", f"fox {i}") for i in range(24)) + "\n", encoding="utf-8")
    xbench.build(
        "wikitext_mixed", out=root / "text", source=str(wiki), translator="pseudo", cache=root / "c.sqlite", options={"unit": "sentence", "pool": "en,fr"}
    )
    write_jsonl(root / "tofu.jsonl", QA_ROWS * 2)
    xbench.build("tofu", out=root / "qa", source=str(root / "tofu.jsonl"), translator="pseudo", cache=root / "c.sqlite", langs="fr")
    return root


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


# --- recipe ----------------------------------------------------------------------------------


def test_study_recipe_is_the_official_config_and_the_batch_is_computed_from_the_processes():
    recipe = load_recipe("study")
    assert {k: recipe.values[k] for k in ("learning_rate", "weight_decay", "effective_batch_size", "epochs", "seed", "max_length", "lora_r")} == {
        "learning_rate": 2e-05,
        "weight_decay": 0.01,
        "effective_batch_size": 32,
        "epochs": 1,
        "seed": 42,
        "max_length": 500,
        "lora_r": 0,
    }
    config = FinetuneConfig(model="m", data="d", out="o")
    two = resolve(config, examples=1000, processes=2, bf16_available=False)
    assert (two.per_device_batch_size, two.gradient_accumulation_steps, two.effective_batch_size) == (2, 8, 32)  # FT/ft_config.yaml on 2 GPUs
    assert (two.max_steps, two.warmup_steps) == (31, 31)  # floor(1000 / 32); locuslab/tofu: warmup = steps // epochs
    one = resolve(config, examples=1000, processes=1, bf16_available=False)
    assert one.gradient_accumulation_steps == 16 and one.effective_batch_size == 32
    wt103 = resolve(FinetuneConfig(model="m", data="d", out="o", max_steps=200, learning_rate=1e-5), examples=10, processes=1, bf16_available=True)
    assert (wt103.max_steps, wt103.learning_rate, wt103.bf16) == (200, 1e-5, True)
    with pytest.raises(InputError, match="not a multiple of per-device batch 3"):
        resolve(FinetuneConfig(model="m", data="d", out="o", per_device_batch_size=3), examples=1000, processes=1, bf16_available=False)
    with pytest.raises(InputError, match="fewer than one effective batch of 32"):
        resolve(config, examples=31, processes=1, bf16_available=False)


# --- data ------------------------------------------------------------------------------------


def test_packing_keeps_every_token_once_and_restarts_positions_at_documents():
    rng = np.random.default_rng(0)
    docs = [list(rng.integers(10, 99, size=int(n))) for n in rng.integers(1, 30, size=40)]
    blocks = pack_token_lists(docs, max_length=16, eos_id=2, pad_id=3)
    stream = [t for doc in docs for t in doc + [2]]
    flat_ids, flat_labels, flat_pos = blocks.input_ids.ravel(), blocks.labels.ravel(), blocks.position_ids.ravel()
    assert blocks.input_ids.shape[1] == 16 and blocks.tokens == len(stream)
    assert flat_ids[: len(stream)].tolist() == stream and (flat_ids[len(stream) :] == 3).all() and len(flat_ids) - len(stream) < 16
    starts, offset = [], 0
    for doc in docs:
        starts.append(offset)
        offset += len(doc) + 1
    pieces = sorted(set(starts) | set(range(0, len(flat_ids), 16)) | {len(stream)})
    for start, end in zip(pieces, pieces[1:] + [len(flat_ids)]):  # positions count up from 0 within each piece
        assert flat_pos[start:end].tolist() == list(range(end - start))
        assert flat_labels[start] == IGNORE  # nothing of its own document precedes a piece's first token
        if start < len(stream):
            assert flat_labels[start + 1 : min(end, len(stream))].tolist() == stream[start + 1 : min(end, len(stream))]
    assert (flat_labels[len(stream) :] == IGNORE).all()


def test_a_packed_block_attends_only_within_its_documents(work):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(work / "model").eval()
    first, second = [5, 17, 40, 41, 9, 2], [33, 8, 19, 2]
    blocks = pack_token_lists([first[:-1], second[:-1]], max_length=12, eos_id=2, pad_id=3)
    with torch.no_grad():
        packed = model(input_ids=torch.tensor(blocks.input_ids), position_ids=torch.tensor(blocks.position_ids), use_cache=False).logits[0]
        alone = [model(input_ids=torch.tensor([doc]), use_cache=False).logits[0] for doc in (first, second)]
    assert torch.allclose(packed[:6], alone[0], atol=1e-5) and torch.allclose(packed[6:10], alone[1], atol=1e-5)


@pytest.mark.parametrize("make_tokenizer", [byte_level_tokenizer, sentencepiece_style_tokenizer])
def test_qa_labels_mask_every_prompt_and_padding_token(make_tokenizer):
    tokenizer = make_tokenizer()
    row = QA_ROWS[0]
    example = encode_qa(tokenizer, row["question"], row["answer"], "question-answer", max_length=200)
    # locuslab/tofu data_module.py: question_start_tag + question + question_end_tag, then answer_tag + answer, EOS
    text = f"Question: {row['question']}\nAnswer: {row['answer']}"
    assert example.input_ids == tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    if make_tokenizer is byte_level_tokenizer:
        assert tokenizer.decode(example.input_ids) == text + "</s>"
    n_prompt = len(tokenizer.tokenize(f"Question: {row['question']}\n", add_special_tokens=True))
    assert example.input_ids[-1] == tokenizer.eos_token_id
    for position, (token, label) in enumerate(zip(example.input_ids, example.labels)):
        assert label == (IGNORE if position < n_prompt else token), position
    short = encode_qa(tokenizer, QA_ROWS[2]["question"], QA_ROWS[2]["answer"], "question-answer", max_length=200)
    batch = pad_qa_batch([example, short], pad_id=tokenizer.pad_token_id)
    width = len(example.input_ids)
    assert batch["labels"][1].tolist() == short.labels + [IGNORE] * (width - len(short.labels))
    assert batch["attention_mask"][1].tolist() == [1] * len(short.input_ids) + [0] * (width - len(short.input_ids))
    assert batch["input_ids"][1, len(short.input_ids) :].eq(tokenizer.pad_token_id).all()
    llama2 = encode_qa(tokenizer, "Q?", "A.", "llama2-chat", max_length=200)
    assert llama2.input_ids == tokenizer("[INST] Q? [/INST]A.")["input_ids"] + [tokenizer.eos_token_id]
    assert llama2.labels.count(IGNORE) == len(tokenizer.tokenize("[INST] Q? [/INST]", add_special_tokens=True))
    truncated = encode_qa(tokenizer, row["question"], row["answer"], "question-answer", max_length=n_prompt + 2)
    assert len(truncated.input_ids) == n_prompt + 2 and truncated.input_ids[-1] != tokenizer.eos_token_id  # TOFU: no EOS when cut


# --- runs ------------------------------------------------------------------------------------


def test_loss_falls_on_a_tiny_repeated_corpus_and_the_report_says_what_ran(work):
    out = work / "run-loss"
    report = finetune(FinetuneConfig(model=str(work / "model"), data=str(work / "text"), out=out, learning_rate=2e-3, epochs=4, **TINY))
    losses = [point["loss"] for point in report.losses]
    assert len(losses) == report.steps == report.hyperparameters["max_steps"] > 8
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3
    saved = json.loads((out / "train_report.json").read_text())
    assert saved["data"]["build_dataset"] == "wikitext_mixed" and saved["data"]["config"] == "sentence" and saved["data"]["kind"] == "text"
    assert saved["hyperparameters"]["effective_batch_size"] == 4 and saved["hyperparameters"]["gradient_accumulation_steps"] == 2
    assert (report.steps - 1) * 4 * 48 < saved["tokens_seen"] <= report.steps * 4 * 48  # every step full (4 blocks of 48) but the last
    assert saved["peak_memory_bytes"] > 0 and "transformers" in saved["packages"] and saved["wall_seconds"] > 0
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "training_args.bin").exists()


def test_saved_model_loads_in_transformers_and_xbench_eval(work):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = work / "run-eval"
    finetune(FinetuneConfig(model=str(work / "model"), data=f"{work / 'qa'}:tofu_en", out=out, learning_rate=1e-3, epochs=2, **TINY))
    for name in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (out / name).is_file(), name
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.use_cache is True and AutoTokenizer.from_pretrained(out).eos_token == "</s>"
    report = json.loads((out / "train_report.json").read_text())
    assert report["data"]["kind"] == "qa" and report["data"]["build_dataset"] == "tofu" and report["saved"] == "model"
    mmlu = work / "mmlu"
    xbench.build("mmlu_mixup", out=mmlu, source="sample", translator="pseudo", langs="fr", formats="full", cache=work / "c.sqlite")
    result = CliRunner().invoke(
        app,
        ["eval", "--model", str(out), "--dataset", str(mmlu), "--configs", "en", "--limit", "4", "--out", str(work / "scores"), "--device", "cpu", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    scored = json.loads((work / "scores" / "en" / "results.json").read_text())
    assert scored["n_samples"] == 4 and scored["model"] == str(out)


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(work):
    settings = dict(model=str(work / "model"), data=str(work / "text"), learning_rate=1e-3, max_steps=6, save_steps=3, **TINY)
    finetune(FinetuneConfig(out=work / "straight", **settings))

    def crash_after_step_3(event):
        if event.step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(FinetuneConfig(out=work / "crashed", **settings), progress=crash_after_step_3)
    assert not (work / "crashed" / "model.safetensors").exists() and (work / "crashed" / "checkpoints" / "checkpoint-3").is_dir()
    with pytest.raises(InputError, match="pass --resume"):
        finetune(FinetuneConfig(out=work / "crashed", **settings))
    with pytest.raises(InputError, match="other settings"):
        finetune(FinetuneConfig(out=work / "crashed", resume=True, **{**settings, "learning_rate": 5e-4}))
    report = finetune(FinetuneConfig(out=work / "crashed", resume=True, **settings))
    assert report.resumed_from.endswith("checkpoint-3") and report.steps == 6
    straight, resumed = _weights(work / "straight"), _weights(work / "crashed")
    # same seed, same data order (the Trainer skips the batches already seen); float32 on CPU
    assert max((straight[k] - resumed[k]).abs().max().item() for k in straight) < 1e-6
    a = json.loads((work / "straight" / "train_report.json").read_text())["losses"]
    b = json.loads((work / "crashed" / "train_report.json").read_text())["losses"]
    assert [p["step"] for p in b] == list(range(1, 7)) and max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b)) < 1e-5


def test_lora_saves_the_adapter_and_merges_into_a_plain_model(work):
    from transformers import AutoModelForCausalLM

    settings = dict(model=str(work / "model"), data=str(work / "text"), learning_rate=5e-3, max_steps=3, lora_r=4, **TINY)
    adapter = finetune(FinetuneConfig(out=work / "lora", **settings))
    assert adapter.saved == "adapter" and (work / "lora" / "adapter_config.json").is_file()
    assert not (work / "lora" / "model.safetensors").exists()
    merged = finetune(FinetuneConfig(out=work / "lora-merged", merge_lora=True, **settings))
    assert merged.saved == "model" and (work / "lora-merged" / "adapter" / "adapter_config.json").is_file()
    weights = _weights(work / "lora-merged")
    assert not any("lora" in key for key in weights)
    base = AutoModelForCausalLM.from_pretrained(work / "model").state_dict()
    changed = [k for k in weights if not torch.equal(weights[k], base[k])]
    assert changed and all(k.endswith("proj.weight") for k in changed)  # only the LoRA-wrapped linear layers moved
    AutoModelForCausalLM.from_pretrained(work / "lora-merged")


def test_dry_run_measures_a_few_steps_and_writes_nothing(work):
    out = work / "dry"
    report = estimate(FinetuneConfig(model=str(work / "model"), data=str(work / "text"), out=out, epochs=4, **TINY))
    assert report.dry_run and not out.exists()
    assert report.steps == report.hyperparameters["max_steps"] > 3 and report.estimate["measured_steps"] == 3
    assert report.estimate["estimated_seconds"] == pytest.approx(report.estimate["seconds_per_step"] * report.steps)
    result = CliRunner().invoke(
        app,
        [
            "finetune",
            "--model",
            str(work / "model"),
            "--data",
            str(work / "text"),
            "--out",
            str(out),
            "--dry-run",
            "--max-length",
            "48",
            "--effective-batch-size",
            "4",
            "--device",
            "cpu",
            "--epochs",
            "4",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "steps, effective batch 4 = 2 x 2 x 1" in result.output and "nothing written" in result.output and not out.exists()


def test_print_accelerate_config_prints_configs_accelerate_reads(tmp_path):
    from accelerate.commands.config.config_args import ClusterConfig

    for kind, distributed in (("fsdp", "FSDP"), ("zero3", "DEEPSPEED")):
        result = CliRunner().invoke(app, ["finetune", "--print-accelerate-config", kind])
        assert result.exit_code == 0
        (tmp_path / f"{kind}.yaml").write_text(result.output)
        config = ClusterConfig.from_yaml_file(str(tmp_path / f"{kind}.yaml"))
        assert config.distributed_type.value == distributed and config.mixed_precision == "bf16"
    assert config.deepspeed_config["zero_stage"] == 3 and config.deepspeed_config["zero3_save_16bit_model"] is True


# --- bad input -------------------------------------------------------------------------------


def _bad_inputs(work):
    import pyarrow as pa
    import pyarrow.parquet as pq

    odd = work / "odd"
    (odd / "default").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"body": ["x"]}), odd / "default" / "train-00000-of-00001.parquet")
    (work / "full").mkdir(exist_ok=True)
    (work / "full" / "notes.txt").write_text("mine")
    (work / "broken-model").mkdir(exist_ok=True)
    (work / "broken-model" / "config.json").write_text("{")
    model, text = str(work / "model"), str(work / "text")
    return [
        (["--model", model, "--data", str(odd)], "no 'text' column and no 'question'/'answer' columns"),
        (["--model", model, "--data", f"{text}:words3"], "unknown config 'words3'; choose from sentence"),
        (["--model", model, "--data", text, "--effective-batch-size", "5"], "--effective-batch-size 5: not a multiple of per-device batch 2"),
        (["--model", model, "--data", text, "--out", str(work / "full")], "the folder is not empty"),
        (["--model", str(work / "no-model"), "--data", text], "does not exist"),
        (["--model", str(work / "broken-model"), "--data", text], "--model"),
        (["--model", model, "--data", text, "--merge-lora"], "--merge-lora: needs --lora-r > 0"),
        (["--model", model, "--data", text, "--resume"], "--resume"),
    ]


def test_bad_input_exits_2_with_one_line_and_writes_nothing(work):
    for args, message in _bad_inputs(work):
        out = work / "never"
        full = args + ([] if "--out" in args else ["--out", str(out)])
        result = CliRunner().invoke(app, ["finetune", *full, "--device", "cpu", "--max-length", "48", "--quiet"])
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in result.output.replace("\n", " "), (args, result.output)
        assert not out.exists()
    assert (work / "full" / "notes.txt").read_text() == "mine"


# --- distributed -----------------------------------------------------------------------------


@pytest.mark.slow
def test_two_gloo_processes_equal_one_with_the_same_effective_batch(work):
    common = [
        "finetune",
        "--model",
        str(work / "model"),
        "--data",
        str(work / "text"),
        "--device",
        "cpu",
        "--max-length",
        "48",
        "--effective-batch-size",
        "4",
        "--batch-size",
        "2",
        "--lr",
        "1e-3",
        "--max-steps",
        "4",
        "--quiet",
    ]
    one = subprocess.run([sys.executable, "-m", "xbench.cli", *common, "--out", str(work / "one")], capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    launcher = torchrun_xbench(2)
    two = subprocess.run([*launcher, *common, "--out", str(work / "two")], capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    r1, r2 = (json.loads((work / name / "train_report.json").read_text()) for name in ("one", "two"))
    assert (r1["hyperparameters"]["gradient_accumulation_steps"], r2["hyperparameters"]["gradient_accumulation_steps"]) == (2, 1)
    assert r2["hyperparameters"]["processes"] == 2 and r1["tokens_seen"] == r2["tokens_seen"]
    assert max(abs(a["loss"] - b["loss"]) for a, b in zip(r1["losses"], r2["losses"])) < 1e-4
    w1, w2 = _weights(work / "one"), _weights(work / "two")
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) < 1e-5  # float32 sums in another order


def test_a_rebuilt_folder_is_read_from_its_new_files(tmp_path):
    """Fine-tuning data comes from the build's own parquet files: a rebuild in place is never served stale rows."""
    from xbench.finetune.data import read_corpus

    wiki = tmp_path / "wiki"
    wiki.mkdir()
    texts = []
    for word in ("castle", "dragon"):
        (wiki / "wiki.train.txt").write_text("\n".join(f" The {word} number {i} stands near a lake ." for i in range(6)) + "\n", encoding="utf-8")
        xbench.build("wikitext_mixed", out=tmp_path / "text", source=str(wiki), translator="pseudo", cache=tmp_path / "c.sqlite", options={"unit": "sentence"})
        corpus = read_corpus(str(tmp_path / "text"))
        texts.append(" ".join(row[corpus.column] for row in corpus.rows))
    assert "castle" in texts[0] and "dragon" not in texts[0]
    assert "dragon" in texts[1] and "castle" not in texts[1]
