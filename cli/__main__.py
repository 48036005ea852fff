"""``python -m xbench.cli`` (how torchrun and accelerate launch start a command)."""

from . import main

main()
