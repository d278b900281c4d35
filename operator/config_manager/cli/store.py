"""``configmanager store ...``: the local AES-256-GCM encrypted store from a terminal.

Why it exists: teams keep secrets for development (and for the operator's ``local`` provider) in an
encrypted file; this gives them init / set / get / list / delete / rotate / rekey without writing
Python. Everything goes through ``LocalEncryptedSecrets``: the CLI adds argument parsing, value input
that stays out of shell history, and output that never shows a value unless ``get --reveal`` asks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .. import (
    LocalEncryptedSecrets,  # the public facade: the CLI names no provider module
    crypto,
)
from ..errors import SecretNotFoundError
from ..secrets.generators import generator_from_spec, generator_types
from ..secrets.manager import SecretsManager
from . import output
from .errors import NOT_FOUND, USAGE, CliError

DEFAULT_STORE = "secrets.enc"
STORE_ENV = "CONFIGMANAGER_STORE"
KEY_FILE_ENV = "CONFIGMANAGER_KEY_FILE"
PASSPHRASE_ENV = "CONFIGMANAGER_PASSPHRASE"


# ---------------------------------------------------------------------------------------------- options

def add_key_options(parser: argparse.ArgumentParser, *, store: bool) -> None:
    """--store (when ``store``), --key-file, --passphrase-env / --passphrase-file."""
    if store:
        parser.add_argument("--store", type=Path, default=None,
                            help=f"encrypted store file (default: ${STORE_ENV} or ./{DEFAULT_STORE})")
    parser.add_argument("--key-file", type=Path, default=None,
                        help=f"32-byte key file (default: ${KEY_FILE_ENV}, else <store>.key)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--passphrase-env", metavar="VAR", default=None,
                       help=f"read the passphrase from environment variable VAR (${PASSPHRASE_ENV} is used when set)")
    group.add_argument("--passphrase-file", type=Path, default=None, metavar="PATH",
                       help="read the passphrase from the first line of PATH")


def read_passphrase(args: argparse.Namespace) -> str | None:
    """The passphrase chosen on the command line or in $CONFIGMANAGER_PASSPHRASE; never from argv itself."""
    if args.passphrase_file is not None:
        try:
            text = args.passphrase_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CliError(f"passphrase file '{args.passphrase_file}' does not exist", NOT_FOUND) from None
        first = text.splitlines()[0] if text else ""
        if not first:
            raise CliError(f"passphrase file '{args.passphrase_file}' is empty", USAGE)
        return first
    if args.passphrase_env is not None:
        value = os.environ.get(args.passphrase_env)
        if not value:
            raise CliError(f"environment variable {args.passphrase_env} is not set or empty", USAGE)
        return value
    if args.key_file is None and os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    return None


def store_path(args: argparse.Namespace) -> Path:
    return Path(args.store or os.environ.get(STORE_ENV) or DEFAULT_STORE)


def key_file_path(args: argparse.Namespace) -> Path:
    if args.key_file is not None:
        return Path(args.key_file)
    if os.environ.get(KEY_FILE_ENV):
        return Path(os.environ[KEY_FILE_ENV])
    return Path(f"{store_path(args)}.key")


def open_store(args: argparse.Namespace, *, must_exist: bool = True) -> LocalEncryptedSecrets:
    """The store named by the options; a clear error when it (or its key) is missing."""
    path = store_path(args)
    passphrase = read_passphrase(args)
    if must_exist and not path.exists():
        raise CliError(f"store '{path}' does not exist; create it with: configmanager store init --store {path}", NOT_FOUND)
    if passphrase is not None:
        return LocalEncryptedSecrets(secrets_file=path, passphrase=passphrase)
    key_file = key_file_path(args)
    if not key_file.exists():
        raise CliError(f"key file '{key_file}' does not exist (give --key-file or a passphrase option)", NOT_FOUND)
    return LocalEncryptedSecrets(secrets_file=path, key_file=key_file)


# ------------------------------------------------------------------------------------------- values in

def parse_metadata(items: list[str] | None) -> dict[str, str] | None:
    if not items:
        return None
    metadata: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"--metadata expects NAME=VALUE, got {name or item!r}", USAGE)
        metadata[name] = value
    return metadata


def read_value(args: argparse.Namespace, *, prompt: str) -> Any:
    """The value from --from-file, --stdin, a positional VALUE (discouraged) or a hidden prompt."""
    raw: str | bytes
    if getattr(args, "from_file", None) is not None:
        try:
            data = Path(args.from_file).read_bytes()
        except FileNotFoundError:
            raise CliError(f"value file '{args.from_file}' does not exist", NOT_FOUND) from None
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            if args.json:
                raise CliError(f"--json: value file '{args.from_file}' is not UTF-8 text", USAGE) from None
            return data  # binary values are stored as bytes
    elif getattr(args, "stdin", False):
        raw = sys.stdin.read()
        if raw.endswith("\n"):
            raw = raw[:-1]
    elif getattr(args, "value", None) is not None:
        output.warn("a value given as an argument can end up in shell history and process listings; "
                    "prefer --stdin, --from-file or the prompt")
        raw = args.value
    elif sys.stdin.isatty():
        import getpass

        raw = getpass.getpass(prompt)
        if getpass.getpass("again: ") != raw:
            raise CliError("the two values differ", USAGE)
    else:
        raise CliError("no value given: use --stdin, --from-file PATH or run on a terminal for a prompt", USAGE)
    if args.json:
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            # The position only: the text itself may be the secret.
            raise CliError(f"--json: the value is not valid JSON (line {exc.lineno}, column {exc.colno})", USAGE) from None
    return raw


def add_value_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stdin", action="store_true", help="read the value from standard input (one trailing newline dropped)")
    source.add_argument("--from-file", metavar="PATH", help="read the value from a file (binary files are stored as bytes)")
    parser.add_argument("--json", action="store_true", help="parse the value as JSON (objects, lists, numbers)")
    parser.add_argument("--metadata", "-m", action="append", metavar="NAME=VALUE", help="metadata to store with the value")


# ------------------------------------------------------------------------------------------- commands

def cmd_init(args: argparse.Namespace) -> int:
    path = store_path(args)
    if path.exists():
        raise CliError(f"store '{path}' already exists; refusing to replace it", USAGE)
    passphrase = read_passphrase(args)
    if passphrase is not None:
        store = LocalEncryptedSecrets(secrets_file=path, passphrase=passphrase)
        where = "passphrase"
    else:
        key_file = key_file_path(args)
        if key_file.exists():
            output.info(f"using the existing key file {key_file}")
        else:
            crypto.create_key_file(key_file)
            output.info(f"created key file {key_file} (mode 0600): keep it safe, the store cannot be opened without it")
        store = LocalEncryptedSecrets(secrets_file=path, key_file=key_file)
        where = f"key file {key_file}"
    # An empty store written now, so later commands find it and a wrong key is detected at once.
    sentinel = "__configmanager_init__"
    store.set(sentinel, "")
    store.delete(sentinel)
    print(f"initialised store {path} ({where})")
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    store = open_store(args, must_exist=not args.create)
    value = read_value(args, prompt=f"value for {args.key}: ")
    stored = store.set(args.key, value, parse_metadata(args.metadata))
    print(f"set {args.key} (version {stored.version})")
    return 0


def _describe(store: LocalEncryptedSecrets, key: str, version: str | None) -> dict[str, Any]:
    value = store.get(key, version)
    return {
        "key": key,
        "version": value.version,
        "versions": store.versions(key),
        "updated": value.created_at.isoformat() if value.created_at else None,
        "type": type(value.value).__name__,
        "sha256": value.fingerprint(),
        "metadata": dict(value.metadata),
    }


def cmd_get(args: argparse.Namespace) -> int:
    store = open_store(args)
    if not args.reveal:
        info = _describe(store, args.key, args.version)
        if args.output == "json":
            print(json.dumps(info, indent=2, sort_keys=True))
        else:
            for name in ("key", "version", "versions", "updated", "type", "sha256", "metadata"):
                shown = _show(info[name])
                print(f"{name + ':':10} {shown}")
            output.info("(value hidden; add --reveal to print it)")
        return 0
    value = store.get(args.key, args.version).value
    if isinstance(value, bytes):
        sys.stdout.buffer.write(value)
        sys.stdout.flush()
    elif isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value, indent=2 if args.output == "json" else None))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    store = open_store(args)
    keys = store.list(args.prefix)
    rows = []
    for key in keys:
        info = _describe(store, key, None)
        rows.append(info)
    if args.output == "json":
        print(json.dumps([{k: v for k, v in r.items() if k != "sha256"} for r in rows], indent=2, sort_keys=True))
        return 0
    if not rows:
        output.info(f"no secrets in {store_path(args)}" + (f" under '{args.prefix}'" if args.prefix else ""))
        return 0
    output.table(
        [[r["key"], str(r["version"]), r["updated"] or "", ",".join(sorted(r["metadata"]))] for r in rows],
        ["KEY", "VERSION", "UPDATED", "METADATA"],
    )
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    store = open_store(args)
    if not store.exists(args.key):
        raise SecretNotFoundError(args.key, "local")
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"refusing to delete '{args.key}' without --yes (no terminal to confirm on)", USAGE)
        answer = input(f"delete '{args.key}' and all its versions from {store_path(args)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            output.info("not deleted")
            return 1
    store.delete(args.key)
    print(f"deleted {args.key}")
    return 0


def generate_value(kind: str, length: int | None) -> Any:
    """A new value from the library's generators (``config_manager.secrets.generators``)."""
    spec: dict[str, Any] = {"type": kind}
    if length is not None:
        if kind == "password":
            spec["length"] = length
        elif kind in ("token", "urlsafe", "hex"):
            spec["nbytes"] = length
        elif kind == "rsa":
            spec["bits"] = length
        else:
            raise CliError(f"--length does not apply to generator '{kind}'", USAGE)
    return generator_from_spec(spec)()


def cmd_rotate(args: argparse.Namespace) -> int:
    store = open_store(args)
    if not store.exists(args.key):
        raise SecretNotFoundError(args.key, "local")
    if args.stdin or args.from_file:
        value = read_value(args, prompt="")
    else:
        value = generate_value(args.generate, args.length)
    previous = store.get(args.key)
    manager = SecretsManager(store)
    if not manager.rotate_secret(args.key, value):
        raise CliError(f"rotation of '{args.key}' failed; the previous value is still in place")
    extra = parse_metadata(args.metadata)
    if extra:
        store.set(args.key, value, {**store.metadata(args.key), **extra})
    current = store.get(args.key)
    print(f"rotated {args.key}: version {previous.version} -> {current.version} "
          f"(previous version kept; read it with: configmanager store get {args.key} --version {previous.version} --reveal)")
    return 0


def cmd_rekey(args: argparse.Namespace) -> int:
    store = open_store(args)
    keys = store.list()
    with output.Progress(f"re-encrypting {store_path(args)}", total=len(keys)) as progress:
        # Opening every entry first proves the current key works before anything is written.
        for key in keys:
            store.versions(key)
            progress.step()
        if args.new_passphrase_env:
            new_passphrase = os.environ.get(args.new_passphrase_env)
            if not new_passphrase:
                raise CliError(f"environment variable {args.new_passphrase_env} is not set or empty", USAGE)
            store.rekey(new_passphrase=new_passphrase)
            where = "a new passphrase"
        elif args.new_key_file is not None:
            if args.new_key_file.exists():
                new_key = crypto.load_key_file(args.new_key_file)
            else:
                new_key = crypto.create_key_file(args.new_key_file)
            store.rekey(new_key=new_key)
            where = f"the key in {args.new_key_file}"
            if store.key_file is not None and store.key_file != args.new_key_file:
                where += f" (copied to {store.key_file})"
        else:
            if store.key_file is None:
                raise CliError("this store is opened with a passphrase: give --new-passphrase-env or --new-key-file", USAGE)
            store.rekey()
            where = f"a new random key in {store.key_file}"
    print(f"re-encrypted {len(keys)} secrets (with their kept versions) under {where}")
    return 0


# -------------------------------------------------------------------------------------------- parser

def register(subparsers: Any) -> None:
    """Add ``store`` and its sub-commands."""
    store = subparsers.add_parser("store", help="the local encrypted secrets store",
                                  description="Manage a local AES-256-GCM encrypted secrets store.")
    commands = store.add_subparsers(dest="store_command", metavar="COMMAND", required=True)

    p = commands.add_parser("init", help="create a key file and an empty store")
    add_key_options(p, store=True)
    p.set_defaults(func=cmd_init)

    p = commands.add_parser("set", help="store a value (a new version when the key exists)")
    add_key_options(p, store=True)
    p.add_argument("key")
    p.add_argument("value", nargs="?", help="the value (discouraged: visible in shell history; use --stdin)")
    add_value_options(p)
    p.add_argument("--create", action="store_true", help="create the store if it does not exist")
    p.set_defaults(func=cmd_set)

    p = commands.add_parser("get", help="show a secret's details; the value only with --reveal")
    add_key_options(p, store=True)
    p.add_argument("key")
    p.add_argument("--version", default=None, help="an earlier version (see 'versions' in the output)")
    p.add_argument("--reveal", action="store_true", help="print the value itself on stdout")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_get)

    p = commands.add_parser("list", help="list keys with version and metadata names (never values)")
    add_key_options(p, store=True)
    p.add_argument("--prefix", default="", help="only keys starting with this")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("delete", help="delete a key and all its versions")
    add_key_options(p, store=True)
    p.add_argument("key")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_delete)

    p = commands.add_parser("rotate", help="give a key a new value (generated unless given); the old one stays as a version")
    add_key_options(p, store=True)
    p.add_argument("key")
    p.add_argument("--generate", default="password", choices=generator_types(),
                   help="generator for the new value when none is given (default: password)")
    p.add_argument("--length", type=int, default=None,
                   help="password length, token/hex bytes or RSA bits (generator default when omitted)")
    add_value_options(p)
    p.set_defaults(func=cmd_rotate)

    p = commands.add_parser("rekey", help="re-encrypt the whole store under a new key or passphrase")
    add_key_options(p, store=True)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--new-key-file", type=Path, default=None,
                        help="use the key in this file (created with a random key when missing)")
    target.add_argument("--new-passphrase-env", metavar="VAR", default=None,
                        help="switch to the passphrase in environment variable VAR")
    p.set_defaults(func=cmd_rekey)


def _show(item: Any) -> str:
    if isinstance(item, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(item.items())) or "-"
    if isinstance(item, list):
        return ", ".join(str(v) for v in item)
    return "-" if item is None else str(item)
