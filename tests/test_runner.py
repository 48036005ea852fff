"""The reference runner on a tiny random Llama model built in a fixture (offline, seconds)."""

import hashlib
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from runner_fixtures import byte_level_tokenizer, sentencepiece_style_tokenizer, tiny_llama
from typer.testing import CliRunner

import xbench
from xbench.builders.mmlu_mixup import load_source
from xbench.cli import app
from xbench.errors import InputError
from xbench.runner import prompts
from xbench.runner.evaluate import evaluate
from xbench.runner.results import load_results
from xbench.runner.scoring import McScorer, resolve_option_tokens

SAMPLE = load_source("sample", ("test", "dev"))


def test_mmlu_prompt_zero_and_two_shot_exact():
    row = SAMPLE["test"][0]
    zero = prompts.header(prompts.mmlu_header_sentence("high_school_geography", "harness")) + prompts.format_example(row["question"], row["choices"], "ABCD")
    assert zero == (
        "The following are multiple choice questions (with answers) about high school geography.\n\n"
        f"{row['question']}\nA. {row['choices'][0]}\nB. {row['choices'][1]}\nC. {row['choices'][2]}\nD. {row['choices'][3]}\nAnswer:"
    )
    demos = [{"question": "Q1?", "choices": ["w", "x", "y", "z"], "answer": 2}, {"question": " Q2 ", "choices": ["1", "2", "3", "4"], "answer": 0}]
    assert prompts.demo_block(demos, "ABCD") == "Q1?\nA. w\nB. x\nC. y\nD. z\nAnswer: C\n\n Q2 \nA. 1\nB. 2\nC. 3\nD. 4\nAnswer: A\n\n"


def test_instructions_and_option_ids_exact():
    assert prompts.header("About X.", "aware0") == "About X. Keep in mind that the question and options may be presented in various languages.\n\n"
    assert prompts.header("About X.", "aware1") == "About X. Remember that the question and options can be in different languages.\n\n"
    assert prompts.format_example("Q?", ["p", "q", "r", "s"], prompts.option_ids("1234"), 3) == "Q?\n1. p\n2. q\n3. r\n4. s\nAnswer: 4\n\n"
    assert prompts.format_example("Q?", ["p", "q", "r", "s"], prompts.option_ids("abcd")) == "Q?\na. p\nb. q\nc. r\nd. s\nAnswer:"
    with pytest.raises(InputError, match="--ids: unknown option ids 'ABCDE'"):
        prompts.option_ids("ABCDE")


@pytest.mark.parametrize("make", [byte_level_tokenizer, sentencepiece_style_tokenizer])
@pytest.mark.parametrize("ids", ["ABCD", "abcd", "1234"])
def test_option_tokens_are_what_follows_answer_colon(make, ids):
    tokenizer = make()
    options = resolve_option_tokens(tokenizer, prompts.option_ids(ids))
    assert len(set(options.tokens)) == 4
    for label, token in zip(prompts.option_ids(ids), options.tokens):
        full = tokenizer("Answer: " + label, add_special_tokens=False)["input_ids"]
        assert full[-1] == token and tokenizer.decode([token]).strip() == label
    assert options.lead == ()


def test_option_after_a_separate_space_token():
    """A tokenizer that splits ' A' into a space token and 'A' gets the space appended to the prompt."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(["<unk>", " ", "A", "B", "C", "D", "n", "s", "w", "e", "r", ":"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    options = resolve_option_tokens(hf, "ABCD")
    assert options.lead == (vocab[" "],) and options.tokens == (2, 3, 4, 5)


def _prompts(n=12, shots=3):
    test = SAMPLE["test"][:n]
    prefix = prompts.header(prompts.mmlu_header_sentence(test[0]["subject"], "harness")) + prompts.demo_block(SAMPLE["dev"][:shots], "ABCD")
    return prefix, [prefix + prompts.format_example(r["question"], r["choices"], "ABCD") for r in test]


@pytest.mark.parametrize("make", [byte_level_tokenizer, sentencepiece_style_tokenizer])
def test_prefix_cache_and_batching_equal_plain_scoring(make):
    tokenizer = make()
    model = tiny_llama(tokenizer)
    scorer = McScorer(model, tokenizer, resolve_option_tokens(tokenizer, "ABCD"))
    _prefix, texts = _prompts()
    plain = [scorer.score_plain(t) for t in texts]
    cached = scorer.score_group(texts)
    batched = scorer.score_batch(texts)
    for reference, fast, batch in zip(plain, cached, batched):
        assert fast.prediction == reference.prediction == batch.prediction
        assert max(abs(a - b) for a, b in zip(fast.probs, reference.probs)) < 1e-4
        assert max(abs(a - b) for a, b in zip(batch.probs, reference.probs)) < 1e-4
        assert max(abs(a - b) for a, b in zip(fast.logprobs, reference.logprobs)) < 1e-4
    assert len({p.prediction for p in plain}) > 1  # the random model does not answer one letter only


def test_first_token_strategy_counts_only_option_ids():
    tokenizer = byte_level_tokenizer()
    model = tiny_llama(tokenizer)
    options = resolve_option_tokens(tokenizer, "ABCD")
    scorer = McScorer(model, tokenizer, options, strategy="first-token")
    _, texts = _prompts()
    for scored in scorer.score_group(texts):
        expected = options.tokens.index(scored.token) if scored.token in options.tokens else -1
        assert scored.prediction == expected


def test_eval_writes_results_and_samples(tiny_model, sample_mmlu_dir, tmp_path):
    results = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "run", configs=["en", "fr_gt_option"], shots=2)
    en = load_results(tmp_path / "run" / "en" / "results.json")
    # the data hash is sha256sum's listing of the config's files, hashed (demos come from en itself here)
    listing = "".join(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  en/{f.name}\n" for f in sorted((sample_mmlu_dir / "en").iterdir()))
    assert en.dataset_hash == hashlib.sha256(listing.encode()).hexdigest()
    assert en.signature == (
        f"xbench:mmlu|cfg:en|data:{en.dataset_hash[:12]}|build:mmlu_mixup/pseudo/seed:0/v:0.1.0"
        "|shots:2|demos:english|ids:ABCD|instr:none|strategy:maxprob|protocol:study|v:0.1.0"
    )
    assert en.build_signature == "xbench:mmlu_mixup|translator:pseudo|seed:0|v:0.1.0" and en.dataset_revision is None
    assert en.n_samples == 40 and en.schema_version == 1 and en.packages["torch"].startswith("2.")
    samples = [json.loads(line) for line in (tmp_path / "run" / "en" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 40 and set(samples[0]) == {
        "id",
        "subject",
        "prompt_hash",
        "probs",
        "logprobs",
        "prediction",
        "target",
        "correct",
        "generation",
        "run_key",
    }
    assert {s["run_key"] for s in samples} == {en.run_key} and len(en.run_key) == 16
    assert en.metrics["acc"].value == pytest.approx(sum(s["correct"] for s in samples) / 40)
    assert set(en.per_subject) == {"high_school_geography", "world_religions", "college_medicine", "elementary_mathematics"}
    assert results[1].config == "fr_gt_option" and abs(sum(samples[0]["probs"]) - 1) < 1e-5


def test_resume_after_a_crash_gives_the_same_results(tiny_model, sample_mmlu_dir, tmp_path):
    full = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "full", configs=["en"])[0]
    lines = (tmp_path / "full" / "en" / "samples.jsonl").read_text().splitlines()
    crashed = tmp_path / "crashed" / "en"
    crashed.mkdir(parents=True)
    (crashed / "samples.jsonl").write_text("\n".join(lines[:13]) + "\n" + lines[13][:25])  # cut mid-line
    resumed = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "crashed", configs=["en"], resume=True)[0]
    assert resumed.metrics == full.metrics
    assert (crashed / "samples.jsonl").read_text().splitlines() == lines


def test_hp_quiz_uses_the_native_header(tiny_model, tmp_path, monkeypatch):
    out = tmp_path / "hp"
    xbench.build("hp_quiz", out=out, cache=tmp_path / "c.sqlite", langs="fr")
    seen = []
    original = McScorer.iter_group
    monkeypatch.setattr(McScorer, "iter_group", lambda self, texts: seen.extend(texts) or original(self, texts))
    evaluate(tiny_model, str(out), out=tmp_path / "run", configs=["fr"], limit=3, protocol="harness")
    assert seen[0] == "Voici des questions à choix multiples (avec leurs réponses) sur Harry Potter.\n\n" + (
        "De quelle couleur sont les cheveux de Harry Potter ?\nA. Noir\nB. Brun\nC. Roux\nD. Blond\nAnswer:"
    )


def test_cli_eval_and_report(tiny_model_dir, sample_mmlu_dir, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "eval",
            "--model",
            str(tiny_model_dir),
            "--dataset",
            str(sample_mmlu_dir),
            "--configs",
            "en,fr_full,fr_gt_option",
            "--limit",
            "8",
            "--out",
            str(run),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "fr_gt_option" in result.output and "acc" in result.output
    result = runner.invoke(app, ["report", str(run), "--plots", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["accuracy.pdf", "accuracy.png", "gap.pdf", "gap.png"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"--model": "/nonexistent/model"}, "--model: /nonexistent/model does not exist"),
        ({"--configs": "xx_full"}, "--configs: unknown config(s) xx_full"),
        ({"--strategy": "vote"}, "--strategy: unknown strategy 'vote'"),
        ({"--ids": "XYZW"}, "--ids: unknown option ids 'XYZW'"),
        ({"--shots": "9"}, "the dev split has only 5 rows"),
    ],
)
def test_cli_bad_input_exits_2(tiny_model_dir, sample_mmlu_dir, tmp_path, override, message):
    options = {"--model": str(tiny_model_dir), "--dataset": str(sample_mmlu_dir), "--out": str(tmp_path / "run"), "--configs": "en", **override}
    result = CliRunner().invoke(app, ["eval", *[part for pair in options.items() for part in pair], "--quiet"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_translate_then_answer_prompt_exact():
    mixed = {"question": "[fr] Q?", "choices": ["[fr] a", "b", "c", "d"], "answer": 0}
    english = {"question": "Q?", "choices": ["a", "b", "c", "d"], "answer": 0}
    assert prompts.translate_demo(mixed, english, "ABCD") == ("[fr] Q?\nA. [fr] a\nB. b\nC. c\nD. d\nEnglish: Q?\nA. a\nB. b\nC. c\nD. d\nAnswer: A\n\n")
    assert prompts.translate_query("[de] R?", ["w", "x", "y", "z"], "ABCD") == "[de] R?\nA. w\nB. x\nC. y\nD. z\nEnglish:"


def test_translate_demos_generate_greedily_then_answer(tiny_model, sample_mmlu_dir, tmp_path):
    first = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "a", configs=["fr_full"], shots=2, demos="translate", limit=4, protocol="harness")[0]
    again = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "b", configs=["fr_full"], shots=2, demos="translate", limit=4, protocol="harness")[0]
    samples = [json.loads(line) for line in (tmp_path / "a" / "fr_full" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 4
    assert (tmp_path / "a" / "fr_full" / "samples.jsonl").read_text() == (tmp_path / "b" / "fr_full" / "samples.jsonl").read_text()
    assert first.signature.endswith("|shots:2|demos:translate|ids:ABCD|instr:none|strategy:maxprob|protocol:harness|v:0.1.0")
    # the scored prompt is the demo prefix, the query and what the model wrote, ending in the cue
    mixed = load_source("sample", ("test",))["test"][0]
    assert again.n_samples == 4 and samples[0]["id"] == mixed["id"]
    from datasets import load_dataset

    fr, en = load_dataset(str(sample_mmlu_dir), "fr_full"), load_dataset(str(sample_mmlu_dir), "en")
    query = fr["test"][0]
    demos = [(m, e) for m, e in zip(fr["dev"], en["dev"]) if m["subject"] == query["subject"]][:2]
    prompt = prompts.header(prompts.mmlu_header_sentence(query["subject"], "harness"))
    prompt += "".join(prompts.translate_demo(m, e, "ABCD") for m, e in demos) + prompts.translate_query(query["question"], query["choices"], "ABCD")
    assert samples[0]["prompt_hash"] == hashlib.sha256(prompt.encode()).hexdigest()
    scorer = McScorer(tiny_model.model, tiny_model.tokenizer, resolve_option_tokens(tiny_model.tokenizer, "ABCD"))
    assert samples[0]["probs"] == pytest.approx(scorer.score_plain(prompt + samples[0]["generation"]).probs, abs=1e-5)


def test_dataset_without_the_needed_columns_exits_2(tiny_model_dir, tmp_path):
    from helpers import write_jsonl

    folder = write_jsonl(tmp_path / "plain" / "test.jsonl", [{"question": "Q?", "label": 1}]).parent
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_model_dir), "--dataset", str(folder), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2
    assert "config 'default': missing column(s) answer" in " ".join(result.output.split())


def test_dataset_without_xbench_metadata_is_generic_multiple_choice_or_exits_2(tiny_model_dir, tiny_model, tmp_path, monkeypatch):
    """No ``xbench:`` block in the card: rows with choices are scored under the generic header, others refused."""
    from helpers import write_jsonl

    mc = write_jsonl(tmp_path / "mc" / "test.jsonl", [{"question": "Q?", "choices": list("wxyz"), "answer": 2}]).parent
    seen = []
    original = McScorer.iter_group
    monkeypatch.setattr(McScorer, "iter_group", lambda self, texts: seen.extend(texts) or original(self, texts))
    evaluate(tiny_model, str(mc), out=tmp_path / "mc_run", protocol="study")
    assert seen == ["The following are multiple choice questions (with answers).\n\nQ?\nA. w\nB. x\nC. y\nD. z\nAnswer:"]
    folder = write_jsonl(tmp_path / "gen" / "test.jsonl", [{"question": "Who?", "answer": "Me."}]).parent
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_model_dir), "--dataset", str(folder), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2
    assert "config 'default': no xbench metadata in its card; rebuild it with this xbench" in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()


def test_resume_rescores_samples_made_with_other_prompt_settings(tiny_model, sample_mmlu_dir, tmp_path):
    evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=6, ids="ABCD")
    changed = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=6, ids="1234", resume=True)[0]
    fresh = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "fresh", configs=["en"], limit=6, ids="1234")[0]
    assert changed.metrics == fresh.metrics
    assert (tmp_path / "run" / "en" / "samples.jsonl").read_text() == (tmp_path / "fresh" / "en" / "samples.jsonl").read_text()


@pytest.mark.parametrize("make", [byte_level_tokenizer, sentencepiece_style_tokenizer])
@pytest.mark.parametrize("batch", [1, 4, 5, 32])
def test_prefix_batched_equals_one_at_a_time(make, batch):
    """fp32, prompts of unequal length, batches that do not divide 11 questions: same predictions, probabilities within 1e-5."""
    tokenizer = make()
    model = tiny_llama(tokenizer)
    scorer = McScorer(model, tokenizer, resolve_option_tokens(tokenizer, "ABCD"))
    _prefix, texts = _prompts(n=11)
    lengths = {len(scorer.encode(t)) for t in texts}
    assert len(lengths) > 3 and len(texts) % 4 and len(texts) % 5
    one = scorer.score_group(texts)
    batched = scorer.score_prefix_batched(texts, batch)
    assert len(batched) == len(texts)
    for reference, fast in zip(one, batched):
        assert fast.prediction == reference.prediction and fast.token == reference.token
        assert max(abs(a - b) for a, b in zip(fast.probs, reference.probs)) < 1e-5
        assert max(abs(a - b) for a, b in zip(fast.logprobs, reference.logprobs)) < 1e-4
    assert len({s.prediction for s in one}) > 1


def test_prefix_batched_without_a_shared_prefix_falls_back_to_plain_batches():
    tokenizer = byte_level_tokenizer()
    model = tiny_llama(tokenizer)
    scorer = McScorer(model, tokenizer, resolve_option_tokens(tokenizer, "ABCD"))
    texts = ["Q?\nA. x\nB. y\nC. z\nD. w\nAnswer:", "Zebra?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:", "Moon\nA. p\nB. q\nC. r\nD. s\nAnswer:"]
    assert [s.prediction for s in scorer.score_prefix_batched(texts, 2)] == [scorer.score_plain(t).prediction for t in texts]


def test_scoring_path_is_chosen_in_one_place():
    from xbench.runner.scoring import PATHS, scoring_path

    assert scoring_path(1) == "prefix-cache" and scoring_path(16) == "prefix-batched" and set(PATHS) >= {scoring_path(1), scoring_path(8)}


def test_eval_with_a_batch_size_gives_the_one_at_a_time_predictions(tiny_model, sample_mmlu_dir, tmp_path):
    one = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "one", configs=["en"], shots=2)[0]
    batched = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "b3", configs=["en"], shots=2, batch_size=3)[0]
    read = lambda run: [json.loads(line) for line in (tmp_path / run / "en" / "samples.jsonl").read_text().splitlines()]  # noqa: E731
    pairs = list(zip(read("one"), read("b3")))
    assert pairs and one.metrics == batched.metrics
    for a, b in pairs:
        assert a["id"] == b["id"] and a["prediction"] == b["prediction"]
        assert max(abs(x - y) for x, y in zip(a["probs"], b["probs"])) < 1e-5
