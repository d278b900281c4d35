"""``configmanager encrypt`` / ``decrypt``: whole configuration files in the library's encrypted format.

Why it exists: a team commits ``production_config.enc`` next to its code and opens it at run time
(``EncryptedFileSource`` or the operator's encrypted-blob source). These two commands make and open such
files with ``config_manager.crypto`` (AES-256-GCM, versioned authenticated header), with a key file or a
passphrase, never writing plaintext anywhere the user did not name.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import crypto
from . import output
from .errors import NOT_FOUND, USAGE, CliError
from .store import add_key_options, read_passphrase


def _key_args(args: argparse.Namespace, *, create_key: bool) -> dict[str, Any]:
    passphrase = read_passphrase(args)
    if passphrase is not None:
        return {"passphrase": passphrase}
    if args.key_file is None:
        raise CliError("give --key-file PATH or a passphrase option (--passphrase-env / --passphrase-file)", USAGE)
    if not args.key_file.exists():
        if not create_key:
            raise CliError(f"key file '{args.key_file}' does not exist", NOT_FOUND)
        crypto.create_key_file(args.key_file)
        output.info(f"created key file {args.key_file} (mode 0600): keep it, the file cannot be decrypted without it")
    return {"key": crypto.load_key_file(args.key_file)}


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CliError(f"input file '{path}' does not exist", NOT_FOUND) from None
    except IsADirectoryError:
        raise CliError(f"input '{path}' is a directory", USAGE) from None


def _write_output(path: str, data: bytes, *, private: bool, force: bool) -> None:
    """Write atomically (temp file + rename); plaintext output gets mode 0600."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = Path(path)
    if target.exists() and not force:
        raise CliError(f"output file '{target}' exists; add --force to replace it", USAGE)
    directory = target.parent if str(target.parent) else Path(".")
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def cmd_encrypt(args: argparse.Namespace) -> int:
    plaintext = _read_input(args.input)
    if crypto.looks_encrypted(plaintext):
        raise CliError(f"'{args.input}' is already encrypted", USAGE)
    blob = crypto.encrypt(plaintext, **_key_args(args, create_key=True))
    out = args.output or f"{args.input}.enc"
    if out == "-.enc":
        raise CliError("reading from stdin: give --output", USAGE)
    _write_output(out, blob, private=False, force=args.force)
    output.info(f"encrypted {len(plaintext)} bytes into {out if out != '-' else 'stdout'}")
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    blob = _read_input(args.input)
    plaintext = crypto.decrypt(blob, **_key_args(args, create_key=False))
    _write_output(args.output, plaintext, private=True, force=args.force)
    if args.output != "-":
        output.info(f"decrypted into {args.output} (mode 0600)")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("encrypt", help="encrypt a configuration file (AES-256-GCM)",
                              description="Encrypt a file with a key file or a passphrase.")
    p.add_argument("input", help="file to encrypt ('-' for stdin)")
    p.add_argument("-o", "--output", help="encrypted file to write (default: INPUT.enc; '-' for stdout)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    add_key_options(p, store=False)
    p.set_defaults(func=cmd_encrypt)

    p = subparsers.add_parser("decrypt", help="decrypt a file made by 'encrypt'",
                              description="Decrypt a file. The plaintext goes only where --output says "
                                          "('-' prints it, which you must ask for explicitly).")
    p.add_argument("input", help="encrypted file ('-' for stdin)")
    p.add_argument("-o", "--output", required=True, help="plaintext file to write (mode 0600), or '-' for stdout")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    add_key_options(p, store=False)
    p.set_defaults(func=cmd_decrypt)
