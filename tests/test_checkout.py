"""The checkout works in place: ``python -m xbench`` and the four mapped subpackages, with no install."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# -S: no site processing, so no .pth file (an editable install's finder) is read; the dependencies'
# folders are put on sys.path by hand, after the checkout's root, as a user's plain `python` would have them.
_DEPS = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]


def _run_in_place(code: str) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys; sys.path[1:1] = {_DEPS!r}; "
    env = {"PATH": sysconfig.get_path("scripts") + ":/usr/bin:/bin", "HOME": str(Path.home())}
    return subprocess.run([sys.executable, "-S", "-c", prelude + code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_python_dash_m_xbench_version():
    code = "import runpy; sys.argv = ['xbench', '--version']; runpy.run_module('xbench', run_name='__main__', alter_sys=True)"
    result = _run_in_place(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("xbench 0.1.0 (xbench-crossling)")


def test_mapped_subpackages_import_from_the_checkout():
    code = (
        "import xbench.cli, xbench.builders, xbench.cards, xbench.recipes, xbench.cli.build; "
        "print(xbench.cli.__file__); print(xbench.builders.__file__); print(xbench.cli.build.__file__); "
        "print(any('editable' in m for m in sys.modules))"
    )
    result = _run_in_place(code)
    assert result.returncode == 0, result.stderr
    cli, builders, build, editable = result.stdout.splitlines()
    assert Path(cli) == ROOT / "cli" / "__init__.py"
    assert Path(builders) == ROOT / "builders" / "__init__.py"
    assert Path(build) == ROOT / "cli" / "build.py"
    assert editable == "False"


def test_only_the_four_folders_are_mapped():
    result = _run_in_place("import xbench.tests")
    assert result.returncode == 1
    assert "No module named 'xbench.tests'" in result.stderr
