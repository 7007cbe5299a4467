"""`python -m orderflow.runtime` is the `orderflow` command."""

from orderflow.runtime.cli import main

main()
