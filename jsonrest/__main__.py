"""`python -m jsonrest`."""

import sys

from ._demo import main

if __name__ == "__main__":
    if sys.argv[1:] != ["demo"]:
        sys.exit("usage: python -m jsonrest demo")
    sys.exit(main())
