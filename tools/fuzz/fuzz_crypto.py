"""atheris harness: the encrypted file format (``config_manager.crypto``) on arbitrary bytes.

Any exception other than ``config_manager.errors.ConfigManagerError`` is a crash. Run it as described
in docs/fuzzing.md, e.g. ``python tools/fuzz/fuzz_crypto.py -max_total_time=30 tools/fuzz/corpus/crypto``.
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped]  # only in the fuzzing venv (docs/fuzzing.md)

with atheris.instrument_imports():
    from config_manager import crypto
    from config_manager.errors import ConfigManagerError

KEY = bytes(range(32))
SEEDS = (crypto.encrypt(b'{"password": "fuzz"}', key=KEY), crypto.encrypt(b"a=1", passphrase="pw"))


def test_one_input(data: bytes) -> None:
    """Parse and decrypt ``data`` with a raw key and with a passphrase; a real blob mutated by a byte, too."""
    for call in (lambda: crypto.parse(data), lambda: crypto.decrypt(data, key=KEY),
                 lambda: crypto.decrypt(data, passphrase="pw")):
        try:
            call()
        except ConfigManagerError:
            pass
    if data:
        seed = bytearray(SEEDS[data[0] % 2])
        for offset in range(1, len(data) - 1, 2):  # pairs of (position, byte) applied to a real blob
            seed[data[offset] % len(seed)] = data[offset + 1]
        try:
            plain = crypto.decrypt(bytes(seed), key=KEY) if data[0] % 2 == 0 else crypto.decrypt(bytes(seed), passphrase="pw")
        except ConfigManagerError:
            return
        assert plain in (b'{"password": "fuzz"}', b"a=1"), "a modified blob decrypted to something else"


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
