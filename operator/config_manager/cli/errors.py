"""Exit codes of the ``configmanager`` command and the mapping from our exceptions to them.

Why a module: scripts branch on exit codes, so they are a public contract, documented here and in
docs/cli.md, and decided in one function instead of in every command.

=====  ==========================================================================================
code   meaning
=====  ==========================================================================================
0      success
1      the operation failed (provider unreachable, refused, API error, anything unexpected)
2      bad usage or input: unknown option, missing argument, unusable file or key file
3      not found: the secret key, version, input file or store does not exist
4      cannot decrypt: wrong key or passphrase, or the encrypted data was modified
5      cluster not reachable or refused: no kubeconfig, connection failed, RBAC forbids it
130    interrupted (Ctrl-C)
=====  ==========================================================================================
"""

from __future__ import annotations

from typing import Final

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    DecryptionError,
    PermissionDeniedError,
    SecretNotFoundError,
)

OK: Final = 0
FAILED: Final = 1
USAGE: Final = 2
NOT_FOUND: Final = 3
DECRYPTION: Final = 4
CLUSTER: Final = 5
INTERRUPTED: Final = 130


class CliError(Exception):
    """An error the CLI reports as one line and an exit code. The message never holds a secret value."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for an exception raised while running a command."""
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, SecretNotFoundError):
        return NOT_FOUND
    if isinstance(exc, DecryptionError):
        return DECRYPTION
    if isinstance(exc, ConfigurationError):
        return USAGE
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return FAILED
    if isinstance(exc, FileNotFoundError):
        return NOT_FOUND
    return FAILED
