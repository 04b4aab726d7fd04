"""`python -m linly_demo ...`: see `linly_demo.cli`."""

import sys

from linly_demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
