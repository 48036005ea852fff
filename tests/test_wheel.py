"""The built wheel, installed into a fresh venv, ships builders and cards and gives a working command.

The fresh venv sees the packages of the interpreter running the tests (a venv, a CI image or a
plain system Python) through a ``.pth`` file, so nothing is downloaded; xbench itself comes only
from the wheel. A failing step shows its own output, not just its exit status.
"""

import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from xbench.about import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[1]


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}", pytrace=False)
    return done


def _package_dirs() -> list[str]:
    """Every site/dist-packages folder the running interpreter imports from, its own venv's first."""
    dirs = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    return list(dict.fromkeys([*site.getsitepackages(), *dirs]))


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_builds(tmp_path):
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation", "-q", "-w", dist], cwd=tmp_path)
    (wheel,) = dist.glob("*.whl")
    assert wheel.name.startswith(DISTRIBUTION.replace("-", "_") + "-"), wheel.name
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    own = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    # Appended after the venv's own site-packages: the wheel's xbench wins over an editable one.
    (Path(own) / "_parent_packages.pth").write_text("".join(f"{d}\n" for d in _package_dirs()), encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel])
    located = _run([python, "-c", "import xbench, xbench.builders.mmlu_mixup as m; print(xbench.__file__); print(m.__file__)"], cwd=tmp_path)
    assert all(str(env_dir) in line for line in located.stdout.splitlines()), located.stdout
    out = tmp_path / "out"
    _run(
        [
            env_dir / "bin" / "xbench",
            "build",
            "mmlu_mixup",
            "--source",
            "sample",
            "--translator",
            "pseudo",
            "--langs",
            "fr",
            "--out",
            out,
            "--cache",
            tmp_path / "c.sqlite",
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert (out / "README.md").read_text().startswith("---\npretty_name: MMLU in mixed languages")
    assert (out / "fr_gt_option" / "test-00000-of-00001.parquet").is_file()
    version = _run([env_dir / "bin" / "xbench", "--version"], cwd=tmp_path).stdout
    assert version.startswith("xbench ") and DISTRIBUTION in version
    listed = subprocess.run([env_dir / "bin" / "xbench", "study", "list"], capture_output=True, text=True, cwd=tmp_path)
    assert listed.returncode == 0 and "tb2" in listed.stdout and "fig7" in listed.stdout, listed.stderr
