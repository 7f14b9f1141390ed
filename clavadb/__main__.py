"""`python -m clavadb`: the same command line as the `clavadb` script."""
from clavadb.cli import main

main()
