"""The ``configmanager`` command: local encrypted store, file encryption, operator and cluster helpers.

Why it exists: the people who adopt config-manager work from a terminal as much as from Python or
kubectl. One command covers the local store (``store init|set|get|list|delete|rotate|rekey``), encrypted
configuration files (``encrypt`` / ``decrypt``), the operator (``operator run``), the local control plane
(``cluster up``), a status view of the cluster's ManagedSecrets and ConfigBundles (``status``), and the
conversion of External Secrets manifests (``migrate eso``).

Everything is done by the library's own classes; this package only parses arguments, reads values in
ways that stay out of shell history, and maps errors to the exit codes documented in ``cli.errors``.
No output shows a secret value except ``store get --reveal`` and ``decrypt -o -``, which ask for it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import ConfigManagerError
from . import files, kube, migrate, output, rotate, store
from .errors import INTERRUPTED, USAGE, CliError, exit_code_for

__all__ = ["build_parser", "main"]

EPILOG = """exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 not found, 4 cannot decrypt (wrong key or
modified data), 5 cluster not reachable or refused, 130 interrupted"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=output.PROG,
        description="Secrets for applications and Kubernetes: local encrypted store, encrypted files, "
                    "the config-manager operator and its status.",
        epilog=EPILOG,
    )
    parser.add_argument("--debug", action="store_true", help="show the Python traceback on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    store.register(commands)
    files.register(commands)
    kube.register(commands)
    rotate.register(commands)
    migrate.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script passes it to sys.exit)."""
    parser = build_parser()
    arguments = list(argv) if argv is not None else sys.argv[1:]
    if arguments[:2] == ["operator", "run"]:
        # Everything after "run" belongs to the operator, --help included.
        arguments = ["operator", "run", "--", *arguments[2:]]
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else USAGE
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        output.error("interrupted")
        return INTERRUPTED
    except (CliError, ConfigManagerError, OSError) as exc:
        if args.debug:
            raise
        output.error(_message(exc))
        return exit_code_for(exc)


def _message(exc: BaseException) -> str:
    """The one-line message for an error. Our exceptions never carry values; OSError names a path."""
    if isinstance(exc, OSError) and not isinstance(exc, ConfigManagerError):
        where = f" '{exc.filename}'" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}"
    return str(exc)


if __name__ == "__main__":  # python -m config_manager.cli
    sys.exit(main())
