"""The ``trebuchet`` command line: a thin shell over the server library.

The command needs the server extra (click, SQLAlchemy, Starlette, ...).  Installed with
the SDK alone, every command answers with one line saying how to install the server
instead of an import traceback: :func:`run` is the entry point that checks.
"""

from __future__ import annotations

import sys

SERVER_EXTRA_HINT = (
    "the trebuchet command needs the server, which is not installed: "
    "pip install 'trebuchet[server]'"
)


def run() -> None:
    """The ``trebuchet`` console script: the CLI, or one line when the server is missing."""
    try:
        from trebuchet.cli.main import main
    except ModuleNotFoundError as exc:
        # Our own modules missing is a broken install, not a missing extra: show it.
        if (exc.name or "").split(".")[0] == "trebuchet":
            raise
        print(SERVER_EXTRA_HINT, file=sys.stderr)
        raise SystemExit(1) from None
    main()
