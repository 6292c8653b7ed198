"""The ``femopt`` command's entry point: imports the command line and runs it.

Importing :mod:`femopt.cli` takes a while (click, numpy, scipy); Ctrl-C during that import
would otherwise end in a traceback. Here it ends like Ctrl-C anywhere else in femopt: one
line, exit code 130 (128 + SIGINT).
"""

import sys


def main() -> None:
    try:
        from femopt.cli import main as command_line  # here: the import itself is what Ctrl-C may hit
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    command_line()
