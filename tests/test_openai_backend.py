"""The OpenAI-compatible backend against a fake server on 127.0.0.1 that serves the tiny fixture model's logits."""

import json
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from xbench.api_client import ApiClient, ResponseCache
from xbench.cli import app
from xbench.errors import InputError, XbenchError
from xbench.runner.backends import ApiOptions
from xbench.runner.evaluate import evaluate
from xbench.runner.results import read_samples

SECRET = "sk-test-DO-NOT-PRINT-4242"
LIMIT = 12


@pytest.fixture
def server(tiny_model):
    with FakeOpenAI(tiny_model.model, tiny_model.tokenizer) as fake:
        yield fake


def options(server, tmp_path, **kwargs) -> ApiOptions:
    kwargs.setdefault("cache", tmp_path / "responses.sqlite")
    return ApiOptions(server.url, backoff=0.01, **kwargs)


def samples(out, config="en"):
    return read_samples(out / config / "samples.jsonl")


def run_both(tiny_model, sample_mmlu_dir, tmp_path, api: ApiOptions, strategy: str):
    local = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "local", configs=["en"], limit=LIMIT, strategy=strategy)
    remote = evaluate("tiny", str(sample_mmlu_dir), out=tmp_path / "api", configs=["en"], limit=LIMIT, strategy=strategy, api=api)
    return local[0], remote[0], samples(tmp_path / "local"), samples(tmp_path / "api")


def test_maxprob_completions_equals_local_path(server, tiny_model, sample_mmlu_dir, tmp_path):
    local, remote, local_samples, api_samples = run_both(tiny_model, sample_mmlu_dir, tmp_path, options(server, tmp_path), "maxprob")
    assert [s.prediction for s in api_samples] == [s.prediction for s in local_samples]
    for a, b in zip(api_samples, local_samples):
        assert a.probs == pytest.approx(b.probs, abs=1e-4) and a.logprobs == pytest.approx(b.logprobs, abs=1e-3)
    assert remote.metrics["acc"].value == local.metrics["acc"].value
    assert remote.device == f"api:{server.url}/completions" and remote.model == "tiny"
    body = server.requests[0]
    assert body["echo"] is True and body["logprobs"] == 1 and body["max_tokens"] == 1 and body["temperature"] == 0
    # study (the default): the bare letter right after "Answer:", the token the study scores
    assert [p[-2:] for p in body["prompt"]] == [":A", ":B", ":C", ":D"] and body["prompt"][0].endswith("\nAnswer:A")
    assert len(server.requests) == LIMIT  # one request per question


def test_maxprob_completions_under_harness_scores_the_spaced_letter(server, tiny_model, sample_mmlu_dir, tmp_path):
    local = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "local", configs=["en"], limit=LIMIT, protocol="harness")
    remote = evaluate("tiny", str(sample_mmlu_dir), out=tmp_path / "api", configs=["en"], limit=LIMIT, protocol="harness", api=options(server, tmp_path))
    assert [s.prediction for s in samples(tmp_path / "api")] == [s.prediction for s in samples(tmp_path / "local")]
    assert remote[0].metrics["acc"].value == local[0].metrics["acc"].value
    assert [p[-2:] for p in server.requests[0]["prompt"]] == [" A", " B", " C", " D"]


def test_first_token_harness_equals_local_and_study_counts_leading_space(server, tiny_model, sample_mmlu_dir, tmp_path):
    _, _, local_samples, api_samples = run_both(tiny_model, sample_mmlu_dir, tmp_path, options(server, tmp_path, protocol="harness"), "first-token")
    assert [s.prediction for s in api_samples] == [s.prediction for s in local_samples]
    assert all(s.generation.startswith(" ") for s in api_samples if s.prediction >= 0)
    assert server.requests[0]["max_tokens"] == 1 and server.requests[0]["temperature"] == 0 and isinstance(server.requests[0]["prompt"], str)
    # the study (paper § E.2) compares the generated token after stripping whitespace: " A" is A
    evaluate("tiny", str(sample_mmlu_dir), out=tmp_path / "study", configs=["en"], limit=LIMIT, strategy="first-token", api=options(server, tmp_path))
    assert [s.prediction for s in samples(tmp_path / "study")] == [s.prediction for s in api_samples]


def test_chat_top_logprobs_match_the_local_logits(server, tiny_model, sample_mmlu_dir, tmp_path):
    """Chat reads the first answer token's top 20; "A" and " A" both count for option A (the best of them)."""
    import torch

    api = options(server, tmp_path, endpoint="chat")
    evaluate("tiny", str(sample_mmlu_dir), out=tmp_path / "api", configs=["en"], limit=LIMIT, api=api)
    body = server.requests[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["messages"] == [{"role": "user", "content": body["messages"][0]["content"]}]
    by_hash = {s.prompt_hash: s for s in samples(tmp_path / "api")}
    for request in server.requests:
        prompt = request["messages"][0]["content"]
        with torch.inference_mode():
            logp = torch.log_softmax(tiny_model.model(torch.tensor([tiny_model.tokenizer(prompt)["input_ids"]])).logits[0, -1].float(), -1)
        top = logp.topk(20)
        best = {
            label: max([float(v) for v, i in zip(top.values, top.indices) if tiny_model.tokenizer.decode([int(i)]).strip() == label], default=-math.inf)
            for label in "ABCD"
        }
        expected = max(range(4), key=lambda k: best["ABCD"[k]]) if max(best.values()) > -math.inf else -1
        from xbench.runner.results import prompt_hash

        sample = by_hash[prompt_hash(prompt)]
        assert sample.prediction == expected
        assert sample.logprobs == pytest.approx([best[label] for label in "ABCD"], abs=1e-4)


def test_chat_first_token_exact_match(tiny_model, sample_mmlu_dir, tmp_path):
    with FakeOpenAI() as plain:  # always answers "A"
        evaluate(
            "tiny", str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=3, strategy="first-token", api=options(plain, tmp_path, endpoint="chat")
        )
    assert [s.prediction for s in samples(tmp_path / "run")] == [0, 0, 0]


def test_rerun_and_resume_send_nothing(server, sample_mmlu_dir, tmp_path):
    api = options(server, tmp_path)
    first = evaluate("tiny", str(sample_mmlu_dir), out=tmp_path / "one", configs=["en"], limit=LIMIT, api=api)
    sent = len(server.requests)
    again = evaluate("tiny", str(sample_mmlu_dir), out=tmp_path / "two", configs=["en"], limit=LIMIT, api=api)
    evaluate("tiny", str(sample_mmlu_dir), out=tmp_path / "one", configs=["en"], limit=LIMIT, api=api, resume=True)
    assert len(server.requests) == sent == LIMIT
    assert again[0].metrics == first[0].metrics
    assert (tmp_path / "one" / "en" / "samples.jsonl").read_bytes() == (tmp_path / "two" / "en" / "samples.jsonl").read_bytes()


def test_429_5xx_timeouts_and_malformed_replies_are_retried(server, sample_mmlu_dir, tmp_path):
    server.too_many, server.server_errors, server.malformed, server.stalls, server.stall_s = 2, 1, 1, 1, 1.5
    evaluate("tiny", str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=3, api=options(server, tmp_path, timeout=0.5, concurrency=1))
    assert len(samples(tmp_path / "run")) == 3
    assert len(server.requests) == 3 + 5


def test_retries_run_out_with_exit_1_and_next_step(server, sample_mmlu_dir, tmp_path):
    server.malformed = 100
    with pytest.raises(XbenchError, match=r"malformed reply .* after 2 retries; retry later or lower --concurrency") as err:
        evaluate("tiny", str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=2, api=options(server, tmp_path, max_retries=2, concurrency=1))
    assert err.value.exit_code == 1


def cli(args, env=None):
    result = CliRunner().invoke(app, args, env={"OPENAI_API_KEY": SECRET, **(env or {})})
    return result, result.output + (result.stderr if result.stderr_bytes is not None else "")


def eval_args(server_url, sample_mmlu_dir, tmp_path, *extra):
    return [
        "eval",
        "--backend",
        "openai",
        "--model",
        "tiny",
        "--base-url",
        server_url,
        "--dataset",
        str(sample_mmlu_dir),
        "--out",
        str(tmp_path / "run"),
        "--configs",
        "en",
        "--limit",
        "3",
        "--response-cache",
        str(tmp_path / "r.sqlite"),
        "--quiet",
        *extra,
    ]


def test_cli_run_sends_key_but_never_shows_it(server, sample_mmlu_dir, tmp_path):
    result, output = cli(eval_args(server.url, sample_mmlu_dir, tmp_path))
    assert result.exit_code == 0, output
    assert "acc" in output and SECRET not in output
    assert all(h.get("Authorization") == f"Bearer {SECRET}" for h in server.headers)
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in repr(ApiClient(server.url, environ={"OPENAI_API_KEY": SECRET}))
    server.unauthorized = True  # a server that echoes the key in its error: the message does not carry it
    result, output = cli(eval_args(server.url, sample_mmlu_dir, tmp_path, "--configs", "fr_full"))
    assert result.exit_code == 2 and "refused the API key (HTTP 401); set $OPENAI_API_KEY to a valid key" in output
    assert SECRET not in output


def test_dry_run_prints_requests_and_tokens_and_sends_nothing(server, sample_mmlu_dir, tmp_path):
    result, output = cli(eval_args(server.url, sample_mmlu_dir, tmp_path, "--dry-run", "--strategy", "first-token"))
    assert result.exit_code == 0, output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 3 and lines[0]["endpoint"] == "completions" and lines[0]["body"]["prompt"].endswith("\nAnswer:")
    assert lines[0]["prompt_tokens"] == math.ceil(len(lines[0]["body"]["prompt"]) / 4) and lines[0]["cached"] is False
    assert "dry run: 3 requests, 0 answered from the cache" in output and SECRET not in output
    assert server.requests == []


def test_dry_run_plans_exactly_the_requests_the_run_sends(server, sample_mmlu_dir, tmp_path):
    """One settings object serves the run and its plan: a system prompt reaches both."""
    extra = ("--strategy", "first-token", "--system-prompt", "Answer with one letter.")
    result, output = cli(eval_args(server.url, sample_mmlu_dir, tmp_path, "--dry-run", *extra))
    assert result.exit_code == 0, output
    planned = [json.loads(line)["body"] for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(planned) == 3 and all(body["prompt"].startswith("Answer with one letter.\n\n") for body in planned)
    result, output = cli(eval_args(server.url, sample_mmlu_dir, tmp_path, *extra))
    assert result.exit_code == 0, output
    assert sorted(planned, key=json.dumps) == sorted(server.requests, key=json.dumps)


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
def test_server_without_logprobs_exits_2_suggesting_first_token(server, sample_mmlu_dir, tmp_path, endpoint):
    server.logprobs = False
    result, output = cli(eval_args(server.url, sample_mmlu_dir, tmp_path, "--endpoint", endpoint))
    assert result.exit_code == 2, output
    assert "log-probabilities" in output and "use --strategy first-token" in output


def test_unreachable_server_and_unserved_model_exit_2(server, sample_mmlu_dir, tmp_path):
    result, output = cli(eval_args("http://127.0.0.1:9/v1", sample_mmlu_dir, tmp_path))
    assert result.exit_code == 2 and "no server answers (ConnectionError); start it (vllm serve MODEL) or fix the URL" in output
    args = eval_args(server.url, sample_mmlu_dir, tmp_path)
    args[args.index("tiny")] = "gpt-9"
    result, output = cli(args)
    assert result.exit_code == 2 and f"--model 'gpt-9' is not served at {server.url}; it serves: tiny" in output
    result, output = cli(["eval", "--backend", "openai", "--model", "tiny", "--dataset", str(sample_mmlu_dir), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "give --base-url" in output


def test_response_cache_is_keyed_by_body(tmp_path):
    cache = ResponseCache(tmp_path / "r.sqlite")
    cache.put("completions", {"model": "m", "prompt": "p"}, {"choices": [{"text": " A"}]})
    assert cache.get("completions", {"prompt": "p", "model": "m"}) == {"choices": [{"text": " A"}]}
    assert cache.get("chat/completions", {"prompt": "p", "model": "m"}) is None
    with pytest.raises(InputError, match="--base-url: expected http"):
        ApiClient("localhost:8000")
