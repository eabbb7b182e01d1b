"""`python -m audiovae` (also what torchrun launches)."""

from audiovae.cli import main

main()
