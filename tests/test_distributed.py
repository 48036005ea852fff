"""Data parallel scoring: 2 gloo processes under torchrun give the results of one process."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from helpers import torchrun_xbench
from runner_fixtures import save_tiny_model

import xbench


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tmp_path):
    model = save_tiny_model(tmp_path / "model")
    data = tmp_path / "mmlu"
    xbench.build("mmlu_mixup", out=data, source="sample", translator="pseudo", langs="fr", formats="gt_option", cache=tmp_path / "c.sqlite")
    common = ["eval", "--model", str(model), "--dataset", str(data), "--configs", "en,fr_gt_option", "--shots", "2", "--device", "cpu", "--quiet"]
    single = subprocess.run([sys.executable, "-m", "xbench.cli", *common, "--out", str(tmp_path / "one")], capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    launcher = torchrun_xbench(2)
    parallel = subprocess.run([*launcher, *common, "--out", str(tmp_path / "two")], capture_output=True, text=True, timeout=600)
    assert parallel.returncode == 0, parallel.stderr[-3000:]
    for config in ("en", "fr_gt_option"):
        one = [json.loads(line) for line in (tmp_path / "one" / config / "samples.jsonl").read_text().splitlines()]
        two = [json.loads(line) for line in (tmp_path / "two" / config / "samples.jsonl").read_text().splitlines()]
        assert [s["id"] for s in two] == [s["id"] for s in one] and len(one) == 40
        for a, b in zip(one, two):
            assert a["prediction"] == b["prediction"] and a["prompt_hash"] == b["prompt_hash"]
            assert max(abs(x - y) for x, y in zip(a["probs"], b["probs"])) < 1e-4
        r1 = json.loads((tmp_path / "one" / config / "results.json").read_text())
        r2 = json.loads((tmp_path / "two" / config / "results.json").read_text())
        assert r1["metrics"] == r2["metrics"] and r1["n_samples"] == r2["n_samples"] == 40
        assert not list((tmp_path / "two" / config).glob("samples.rank*.jsonl"))
