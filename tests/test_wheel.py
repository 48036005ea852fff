"""The built wheel, installed into a fresh venv, ships builders and cards and gives a working command."""

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_builds(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)],
        check=True, cwd=tmp_path,
    )
    (wheel,) = dist.glob("xbench-*.whl")
    env_dir = tmp_path / "venv"
    # Dependencies come from the running interpreter's site-packages; xbench itself only from the wheel.
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True)
    located = subprocess.run([python, "-c", "import xbench, xbench.builders.mmlu_mixup as m; print(xbench.__file__); print(m.__file__)"], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert all(str(env_dir) in line for line in located.stdout.splitlines()), located.stdout
    out = tmp_path / "out"
    done = subprocess.run(
        [env_dir / "bin" / "xbench", "build", "mmlu_mixup", "--source", "sample", "--translator", "pseudo", "--langs", "fr", "--out", out, "--cache", tmp_path / "c.sqlite", "--quiet"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "README.md").read_text().startswith("---\npretty_name: MMLU in mixed languages")
    assert (out / "fr_gt_option" / "test-00000-of-00001.parquet").is_file()
    listed = subprocess.run([env_dir / "bin" / "xbench", "study", "list"], capture_output=True, text=True, cwd=tmp_path)
    assert listed.returncode == 0 and "tb2" in listed.stdout and "fig7" in listed.stdout, listed.stderr
