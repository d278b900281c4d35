"""The ``configmanager`` command on temporary stores: every store command, encrypt/decrypt, exit codes,
and the rule that no output shows a value unless ``--reveal`` (or ``decrypt -o -``) asked for it.

Commands run in-process through ``config_manager.cli.main`` (fast, real files, real crypto); one test
runs the installed console script to prove the entry point is wired.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config_manager.cli import main
from config_manager.cli.kube import summarise
from config_manager.providers.local import LocalEncryptedSecrets

SECRET = "pa55-W0rd-that-must-never-leak"


class Run:
    """Runs the CLI in a folder and records everything it printed."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.transcript: list[str] = []

    def __call__(self, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin if stdin is not None else ""))
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        self.transcript.append(out + err)
        return code, out, err


@pytest.fixture()
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.chdir(tmp_path)
    for var in ("CONFIGMANAGER_STORE", "CONFIGMANAGER_KEY_FILE", "CONFIGMANAGER_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    yield Run(tmp_path, capsys, monkeypatch)


@pytest.fixture()
def store(run: Run) -> Run:
    code, _, _ = run("store", "init")
    assert code == 0
    code, _, _ = run("store", "set", "db_password", "--stdin", "-m", "tier=critical", stdin=SECRET + "\n")
    assert code == 0
    return run


# ------------------------------------------------------------------------------------------ store init

def test_init_creates_a_private_key_file_and_an_empty_store(run: Run) -> None:
    code, out, err = run("store", "init")
    assert code == 0
    key = run.folder / "secrets.enc.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    assert (run.folder / "secrets.enc").exists()
    assert "initialised store secrets.enc" in out and "keep it safe" in err
    assert LocalEncryptedSecrets(secrets_file=run.folder / "secrets.enc", key_file=key).list() == []


def test_init_refuses_to_replace_an_existing_store(run: Run) -> None:
    assert run("store", "init")[0] == 0
    key_before = (run.folder / "secrets.enc.key").read_bytes()
    code, _, err = run("store", "init")
    assert code == 2 and "already exists" in err
    assert (run.folder / "secrets.enc.key").read_bytes() == key_before


def test_init_with_a_passphrase_writes_no_key_file(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PASS", "correct horse battery staple")
    assert run("store", "init", "--store", "p.enc", "--passphrase-env", "MY_PASS")[0] == 0
    assert not (run.folder / "p.enc.key").exists()
    assert run("store", "set", "k", "--stdin", "--store", "p.enc", "--passphrase-env", "MY_PASS", stdin="v")[0] == 0
    monkeypatch.setenv("MY_PASS", "wrong")
    code, _, err = run("store", "list", "--store", "p.enc", "--passphrase-env", "MY_PASS")
    assert code == 4, err


# ------------------------------------------------------------------------------------ set / get / list

def test_get_hides_the_value_unless_revealed(store: Run) -> None:
    code, out, err = store("store", "get", "db_password")
    assert code == 0
    assert SECRET not in out + err
    assert "version:   1" in out and "tier=critical" in out and "--reveal" in err
    code, out, _ = store("store", "get", "db_password", "--reveal")
    assert code == 0 and out == SECRET + "\n"


def test_list_shows_keys_and_metadata_names_never_values(store: Run) -> None:
    store("store", "set", "api_key", "--stdin", stdin="sk-1234567890abcdef")
    code, out, _ = store("store", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["KEY", "VERSION", "UPDATED", "METADATA"]
    assert [line.split()[0] for line in lines[1:]] == ["api_key", "db_password"]
    assert SECRET not in out and "sk-1234567890abcdef" not in out
    code, out, _ = store("store", "list", "-o", "json", "--prefix", "db")
    assert [item["key"] for item in json.loads(out)] == ["db_password"]
    assert SECRET not in out and "sha256" not in out


def test_set_json_values_and_metadata(run: Run) -> None:
    run("store", "init")
    code, _, _ = run("store", "set", "db", "--stdin", "--json", stdin='{"user": "app", "port": 5432}')
    assert code == 0
    code, out, _ = run("store", "get", "db", "--reveal", "-o", "json")
    assert json.loads(out) == {"user": "app", "port": 5432}
    code, _, err = run("store", "set", "bad", "--stdin", "--json", stdin="{not json " + SECRET)
    assert code == 2 and "not valid JSON" in err and SECRET not in err


def test_binary_values_from_a_file_round_trip(run: Run) -> None:
    run("store", "init")
    blob = bytes(range(256))
    (run.folder / "cert.der").write_bytes(blob)
    assert run("store", "set", "cert", "--from-file", "cert.der")[0] == 0
    store = LocalEncryptedSecrets(secrets_file=run.folder / "secrets.enc", key_file=run.folder / "secrets.enc.key")
    assert store.get("cert").value == blob


def test_a_value_on_the_command_line_is_accepted_with_a_warning(run: Run) -> None:
    run("store", "init")
    code, out, err = run("store", "set", "token", SECRET)
    assert code == 0 and "shell history" in err
    assert SECRET not in out + err


def test_set_without_a_value_and_without_a_terminal_is_a_usage_error(store: Run) -> None:
    code, _, err = store("store", "set", "x")
    assert code == 2 and "--stdin" in err


# ------------------------------------------------------------------------------------------ exit codes

def test_missing_key_is_exit_3(store: Run) -> None:
    code, _, err = store("store", "get", "nope")
    assert code == 3 and "'nope' not found" in err


def test_missing_store_is_exit_3_and_says_how_to_create_it(run: Run) -> None:
    code, _, err = run("store", "list", "--store", "absent.enc")
    assert code == 3 and "store init" in err


def test_wrong_key_is_exit_4(store: Run) -> None:
    from config_manager.crypto import create_key_file

    create_key_file(store.folder / "other.key")
    code, _, err = store("store", "get", "db_password", "--key-file", "other.key")
    assert code == 4 and "key id" in err
    assert SECRET not in err


def test_bad_usage_is_exit_2(run: Run) -> None:
    assert main(["store", "frobnicate"]) == 2
    assert main(["--help"]) == 0


# ---------------------------------------------------------------------------------------------- delete

def test_delete_needs_confirmation_or_yes(store: Run) -> None:
    code, _, err = store("store", "delete", "db_password")
    assert code == 2 and "--yes" in err
    assert store("store", "delete", "db_password", "--yes")[0] == 0
    assert store("store", "get", "db_password")[0] == 3
    assert store("store", "delete", "db_password", "--yes")[0] == 3


# ---------------------------------------------------------------------------------------------- rotate

def test_rotate_generates_a_new_value_and_keeps_the_old_version(store: Run) -> None:
    code, out, err = store("store", "rotate", "db_password")
    assert code == 0 and "version 1 -> 2" in out
    new_value = store("store", "get", "db_password", "--reveal")[1].strip()
    assert new_value != SECRET and len(new_value) == 32
    assert new_value not in out + err
    assert store("store", "get", "db_password", "--version", "1", "--reveal")[1].strip() == SECRET
    details = store("store", "get", "db_password")[1]
    assert "rotated_at=" in details and "tier=critical" in details and "versions:  1, 2" in details


def test_rotate_with_a_chosen_generator_and_a_given_value(store: Run) -> None:
    assert store("store", "rotate", "db_password", "--generate", "hex", "--length", "8")[0] == 0
    value = store("store", "get", "db_password", "--reveal")[1].strip()
    assert len(value) == 16 and int(value, 16) >= 0
    assert store("store", "rotate", "db_password", "--stdin", stdin="chosen-value")[0] == 0
    assert store("store", "get", "db_password", "--reveal")[1].strip() == "chosen-value"
    assert store("store", "rotate", "missing")[0] == 3


# ----------------------------------------------------------------------------------------------- rekey

def test_rekey_replaces_the_key_and_keeps_every_version(store: Run) -> None:
    store("store", "rotate", "db_password")
    old_key = (store.folder / "secrets.enc.key").read_bytes()
    (store.folder / "old.key").write_bytes(old_key)
    os.chmod(store.folder / "old.key", 0o600)
    code, out, err = store("store", "rekey")
    assert code == 0 and "re-encrypted 1 secrets" in out
    assert "re-encrypting secrets.enc" in err and "done (1/1" in err  # progress on stderr
    assert (store.folder / "secrets.enc.key").read_bytes() != old_key
    assert store("store", "get", "db_password", "--version", "1", "--reveal")[1].strip() == SECRET
    assert store("store", "list", "--key-file", "old.key")[0] == 4


def test_rekey_to_a_passphrase(store: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEW_PASS", "a long new passphrase")
    assert store("store", "rekey", "--new-passphrase-env", "NEW_PASS")[0] == 0
    assert store("store", "get", "db_password", "--reveal", "--passphrase-env", "NEW_PASS")[1].strip() == SECRET
    code, _, err = store("store", "rekey", "--new-passphrase-env", "UNSET_VARIABLE_X")
    assert code in (2, 4)


def test_rekey_to_a_given_key_file(store: Run) -> None:
    assert store("store", "rekey", "--new-key-file", "next.key")[0] == 0
    assert stat.S_IMODE((store.folder / "next.key").stat().st_mode) == 0o600
    assert (store.folder / "next.key").read_bytes() == (store.folder / "secrets.enc.key").read_bytes()
    assert store("store", "get", "db_password", "--reveal", "--key-file", "next.key")[1].strip() == SECRET


# -------------------------------------------------------------------------------------- encrypt/decrypt

def test_encrypt_and_decrypt_a_config_file(run: Run) -> None:
    config = run.folder / "production.yaml"
    config.write_text(f"database:\n  password: {SECRET}\n")
    code, _, err = run("encrypt", "production.yaml", "--key-file", "config.key")
    assert code == 0 and "created key file config.key" in err
    blob = (run.folder / "production.yaml.enc").read_bytes()
    assert SECRET.encode() not in blob and blob[:4] == b"CMEF"
    code, out, err = run("decrypt", "production.yaml.enc", "-o", "plain.yaml", "--key-file", "config.key")
    assert code == 0 and SECRET not in out + err
    assert (run.folder / "plain.yaml").read_text() == config.read_text()
    assert stat.S_IMODE((run.folder / "plain.yaml").stat().st_mode) == 0o600
    code, out, _ = run("decrypt", "production.yaml.enc", "-o", "-", "--key-file", "config.key")
    assert code == 0 and SECRET in out  # explicitly asked for


def test_decrypt_refuses_wrong_keys_tampering_and_overwrites(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    (run.folder / "c.json").write_text('{"a": 1}')
    monkeypatch.setenv("PASS", "file passphrase")
    assert run("encrypt", "c.json", "--passphrase-env", "PASS")[0] == 0
    monkeypatch.setenv("PASS", "other passphrase")
    assert run("decrypt", "c.json.enc", "-o", "out.json", "--passphrase-env", "PASS")[0] == 4
    monkeypatch.setenv("PASS", "file passphrase")
    blob = bytearray((run.folder / "c.json.enc").read_bytes())
    blob[-1] ^= 1
    (run.folder / "t.enc").write_bytes(bytes(blob))
    code, _, err = run("decrypt", "t.enc", "-o", "out.json", "--passphrase-env", "PASS")
    assert code == 4 and "authentication failed" in err
    assert not (run.folder / "out.json").exists()
    assert run("encrypt", "c.json", "--passphrase-env", "PASS")[0] == 2  # c.json.enc exists
    assert run("encrypt", "c.json.enc", "-o", "x", "--passphrase-env", "PASS")[0] == 2  # already encrypted
    assert run("decrypt", "c.json.enc", "--passphrase-env", "PASS")[0] == 2  # -o is required
    assert run("decrypt", "absent.enc", "-o", "x", "--passphrase-env", "PASS")[0] == 3


# -------------------------------------------------------------------------------------- cluster commands

def test_status_without_a_usable_kubeconfig_is_exit_5(run: Run) -> None:
    code, _, err = run("status", "--kubeconfig", str(run.folder / "absent.kubeconfig"))
    assert code == 5 and "kubeconfig" in err


def test_status_summary_reads_statistics_from_status() -> None:
    managed = {
        "kind": "ManagedSecret", "metadata": {"namespace": "app", "name": "db", "generation": 2},
        "spec": {"storeRef": {"name": "vault"}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Synced", "message": "ok"}],
                   "refreshTime": "2026-01-01T00:00:00Z", "observedGeneration": 2,
                   "access": {"providerReads": 7, "consecutiveFailures": 0, "usedByCount": 3},
                   "rotation": {"count": 2, "lastRotationTime": "2026-01-01T00:00:00Z"}},
    }
    summary = summarise(managed)
    assert (summary["ready"], summary["reason"], summary["store"]) == ("True", "Synced", "vault")
    assert (summary["providerReads"], summary["usedBy"], summary["rotations"]) == (7, 3, 2)
    bundle = {"kind": "ConfigBundle", "metadata": {"namespace": "app", "name": "cfg"},
              "status": {"stats": {"sources": 3, "keys": 12, "secretKeys": 2, "providerReads": 4}}}
    summary = summarise(bundle)
    assert (summary["ready"], summary["sources"], summary["keys"], summary["secretKeys"]) == ("Unknown", 3, 12, 2)


def test_status_lists_what_expires_soon() -> None:
    from datetime import datetime, timezone
    from typing import Any

    from config_manager.cli.kube import expiring

    now = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)

    def managed(name: str, expires: str | None) -> dict[str, Any]:
        status: dict[str, Any] = {"expiresAt": expires, "expiry": {"key": "tls.crt", "source": "certificate"}} if expires else {}
        return summarise({"kind": "ManagedSecret", "metadata": {"namespace": "app", "name": name}, "status": status})

    rows = [managed("far", "2027-06-01T00:00:00Z"), managed("soon", "2026-12-02T09:00:00Z"),
            managed("gone", "2026-12-01T00:00:00Z"), managed("none", None)]
    found = expiring(rows, 7 * 86400, now)
    assert [(s["name"], s["expiryKey"], s["expirySource"]) for _, s in found] == [
        ("gone", "tls.crt", "certificate"), ("soon", "tls.crt", "certificate")]
    assert found[1][0] == 3 * 3600


def test_cluster_up_hands_over_to_the_devcluster_entry_point(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    import config_manager.devcluster.__main__ as devcluster_main

    seen: list[list[str]] = []
    monkeypatch.setattr(devcluster_main, "main", lambda argv: seen.append(list(argv)) or 0)
    code, _, err = run("cluster", "up", "--kubeconfig-out", "/tmp/x.kubeconfig")
    assert code == 0 and seen == [["--kubeconfig-out", "/tmp/x.kubeconfig"]]
    assert "local control plane" in err
    code, _, err = run("cluster", "up", "--node", "--image", "/tmp/cm.docker.tar")
    assert code == 0 and seen[-1] == ["--node", "--image", "/tmp/cm.docker.tar"] and "a node" in err


def test_operator_run_passes_its_arguments_through(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    try:
        import config_manager.k8s.__main__ as operator_main
    except ImportError:
        code, _, err = run("operator", "run", "--help")
        assert code == 1 and "operator" in err  # not built yet: a clear error, no traceback
        return
    monkeypatch.setattr(operator_main, "main", lambda argv: seen.append(list(argv)) or 0)
    code, _, _ = run("operator", "run", "--namespace", "team-a", "--standalone")
    assert code == 0 and seen == [["--namespace", "team-a", "--standalone"]]
    code, _, _ = run("operator", "run", "--help")
    assert code == 0 and seen[-1] == ["--help"]


# ----------------------------------------------------------------------------------- nothing ever leaks

def test_no_output_of_a_whole_session_contains_the_value_except_reveal(store: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P", "session passphrase")
    store("store", "list")
    store("store", "get", "db_password")
    store("store", "get", "db_password", "-o", "json")
    store("store", "rotate", "db_password", "--stdin", stdin=SECRET + "-2")
    store("store", "get", "missing")
    store("store", "rekey")
    store("store", "list", "-o", "json")
    store("store", "delete", "db_password")
    leaked = [entry for entry in store.transcript if SECRET in entry]
    assert leaked == []
    revealed = store("store", "get", "db_password", "--reveal")[1]
    assert SECRET in revealed


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "configmanager"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    for command in ("store", "encrypt", "decrypt", "status", "operator", "cluster"):
        assert command in result.stdout
    assert "exit codes" in result.stdout
