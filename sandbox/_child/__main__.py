"""Entry point: ``python -S -P sandbox/_child MODE ...`` (see ``__init__``; this directory is sys.path[0])."""

import sys

from child_server import main

main(sys.argv)
