"""``python -m gatedrnn``: ``info``, ``bench`` and ``compare`` (see gatedrnn._cli)."""
import sys

from gatedrnn._cli import main

if __name__ == "__main__":
    sys.exit(main(reexec=True))
