"""Measure the local encrypted store: KDF cost, opening a 10,000-entry store, reading and writing.

Run:  .venv/bin/python bench/local_store.py [entries]
Prints one line per figure (median of several runs where cheap enough).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from config_manager import LocalEncryptedSecrets, crypto


def timed(action: Callable[[], object], repeat: int = 5) -> float:
    """Median milliseconds of ``action()`` over ``repeat`` runs."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    salt = os.urandom(16)
    print(f"pbkdf2-sha256 600,000 iterations: {timed(lambda: crypto.kdf.derive_from_passphrase('pw', salt, crypto.Pbkdf2()), 3):.0f} ms")
    print(f"scrypt N=2^17 r=8 p=1:            {timed(lambda: crypto.kdf.derive_from_passphrase('pw', salt, crypto.Scrypt()), 3):.0f} ms")
    with tempfile.TemporaryDirectory() as folder:
        path, key_file = Path(folder) / "big.enc", Path(folder) / "big.key"
        store = LocalEncryptedSecrets(path, key_file)
        values = {f"service-{n:05d}/password": crypto.generate_key().hex() for n in range(entries)}
        start = time.perf_counter()
        store.set_many(values, {"team": "platform", "tier": "standard"})
        print(f"write {entries} entries in one batch:   {(time.perf_counter() - start) * 1000:.0f} ms, "
              f"file {path.stat().st_size / 1e6:.2f} MB")

        def open_and_read() -> None:
            LocalEncryptedSecrets(path, key_file).get("service-05000/password")

        print(f"open {entries}-entry store + read one: {timed(open_and_read):.1f} ms")
        warm = LocalEncryptedSecrets(path, key_file)
        warm.get("service-00001/password")
        reads = 2000
        start = time.perf_counter()
        for n in range(reads):
            warm.get(f"service-{n:05d}/password")
        print(f"read one secret, store already open:  {(time.perf_counter() - start) / reads * 1e6:.0f} us")
        print(f"write one secret into the store:      {timed(lambda: warm.set('service-00002/password', 'x')):.1f} ms")

        pp_path = Path(folder) / "pp.enc"
        LocalEncryptedSecrets(pp_path, passphrase="a passphrase").set_many(values)

        def open_with_passphrase() -> None:
            LocalEncryptedSecrets(pp_path, passphrase="a passphrase").get("service-05000/password")

        print(f"same, passphrase (PBKDF2 600k):       {timed(open_with_passphrase, 3):.0f} ms")


if __name__ == "__main__":
    main()
