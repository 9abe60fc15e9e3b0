"""The ``tortie`` console script and ``python -m tortie``: the command line, started fast.

A command's process is short and what it imports lives until it exits, so the cyclic
garbage collector has nothing to find there: it is paused while the command line's
modules load, and everything alive when the command returns is frozen, so that the
interpreter does not walk it all once more on the way out (bench/cli.py).
"""

import gc
import sys


def run() -> None:
    gc.disable()
    try:
        from .ctl import main
    finally:
        gc.enable()
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
