"""``python -m xbench ...``: the same command as ``xbench ...``."""

from xbench.cli import main

main()
