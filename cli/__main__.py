"""`python -m cli` = `hongguan` (used by `hongguan run` to start its children with the same interpreter)."""

from cli import main

main()
