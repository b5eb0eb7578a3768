"""``python -m iklim ...``: the same command as ``iklim ...``."""

from iklim.cli import main

main()
