"""Key custody faults without a cluster (issue 16, kind 7): a keys path proved writable before
init, shares rescued when the write fails anyway, and a keys file of the wrong shape refused in
one line."""

from __future__ import annotations

import base64
import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from iklim.vault import safewrite
from iklim.vault.custody import CustodyError, KeyCustody

SHARES = [base64.b64encode(os.urandom(33)).decode() for _ in range(5)]
RESULT: dict[str, Any] = {"keys": ["ab" * 33] * 5, "keys_base64": SHARES, "root_token": "s.R00tT0kenSecret"}


def _secrets_in(text: str) -> list[str]:
    return [s for s in (*SHARES, RESULT["root_token"]) if s in text]


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data))
    path.chmod(0o600)


# --- proved writable before sys/init --------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "words"),
    [
        ("parent-is-a-file", "Not a directory"),
        ("grandparent-is-a-file", "Not a directory"),
        ("path-is-a-directory", "Is a directory"),
    ],
)
def test_an_unwritable_keys_path_is_refused_before_init(tmp_path: Path, layout: str, words: str) -> None:
    (tmp_path / "blocker").write_text("a file where a folder goes")
    path = {
        "parent-is-a-file": tmp_path / "blocker" / "init.json",
        "grandparent-is-a-file": tmp_path / "blocker" / "vault" / "init.json",
        "path-is-a-directory": tmp_path / "init.json",
    }[layout]
    if layout == "path-is-a-directory":
        path.mkdir()
    with pytest.raises(CustodyError, match=f"cannot be written \\({words}: .*\\): refusing to initialise Vault"):
        KeyCustody(path).prove_writable()


def test_a_writable_keys_path_gets_a_private_folder_and_no_probe_left(tmp_path: Path) -> None:
    path = tmp_path / "new" / "vault" / "init.json"
    KeyCustody(path).prove_writable()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert list(path.parent.iterdir()) == [], "the probe file is removed"


def test_a_read_only_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(safewrite.tempfile, "mkstemp", read_only)
    with pytest.raises(CustodyError, match=r"\(Read-only file system\): refusing to initialise"):
        KeyCustody(tmp_path / "init.json").prove_writable()


# --- durable write --------------------------------------------------------------------------


def test_save_fsyncs_the_file_and_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(safewrite.os, "fsync", fsync)
    custody = KeyCustody(tmp_path / "init.json")
    custody.save_init(RESULT)
    assert synced == ["file", "dir"]
    assert stat.S_IMODE(custody.path.stat().st_mode) == 0o600
    assert custody.unseal_keys(3) == SHARES[:3] and custody.root_token() == RESULT["root_token"]
    assert [p.name for p in tmp_path.iterdir()] == ["init.json"], "no temp file left"


# --- shares never lost after init -----------------------------------------------------------


def _failing_write(monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("iklim.vault.custody.write_atomic", full)


def test_a_failed_write_after_init_rescues_the_shares_next_to_the_keys_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_write(monkeypatch)
    custody = KeyCustody(tmp_path / "init.json")
    with pytest.raises(CustodyError) as caught:
        custody.save_init(RESULT)
    message = str(caught.value)
    (rescued,) = tmp_path.glob("init.rescue-*.json")
    assert f"are in {rescued} (mode 0600): move that file to {custody.path}" in message
    assert "No space left on device" in message and "\n" not in message
    assert not _secrets_in(message), "the error never carries a share or the token"
    assert stat.S_IMODE(rescued.stat().st_mode) == 0o600
    assert json.loads(rescued.read_text())["keys_base64"] == SHARES
    rescued.rename(custody.path)  # what the message tells the operator to do
    assert custody.unseal_keys(3) == SHARES[:3]


def test_when_the_keys_folder_is_unusable_the_shares_go_to_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "blocker").write_text("")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    custody = KeyCustody(tmp_path / "blocker" / "init.json")  # its folder is a file
    with pytest.raises(CustodyError, match="Not a directory") as caught:
        custody.save_init(RESULT)
    (rescued,) = home.glob("init.rescue-*.json")
    assert str(rescued) in str(caught.value)
    assert json.loads(rescued.read_text())["root_token"] == RESULT["root_token"]


def test_when_no_place_takes_the_shares_the_error_says_they_are_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_write(monkeypatch)
    (tmp_path / "blocker").write_text("")
    monkeypatch.setattr("iklim.vault.custody.rescue_places", lambda path: [tmp_path / "blocker" / "r.json"])
    with pytest.raises(CustodyError, match="nor to any rescue file .*unseal keys are lost") as caught:
        KeyCustody(tmp_path / "init.json").save_init(RESULT)
    assert not _secrets_in(str(caught.value))


def test_an_interrupted_write_still_rescues_the_shares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("iklim.vault.custody.write_atomic", interrupted)
    with pytest.raises(CustodyError, match="KeyboardInterrupt"):
        KeyCustody(tmp_path / "init.json").save_init(RESULT)
    assert len(list(tmp_path.glob("init.rescue-*.json"))) == 1


# --- a keys file of the wrong shape ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"keys_base64": SHARES[0]}, "keys_base64 is a string, not a list of shares"),
        ({"keys_base64": [1, 2, 3]}, "keys_base64 is not a list of non-empty strings"),
        ({"keys_base64": {"a": 1}}, "keys_base64 is not a list of non-empty strings"),
        ({"root_token": 12345}, "root_token is not a string"),
        ({"pgp": "yes"}, "pgp is not true or false"),
        ({"cluster_id": ["x"]}, "cluster_id is not a string"),
        ({"keys_base64": ["not base64!", *SHARES[1:]]}, "share 1 is not base64"),
    ],
)
def test_a_keys_file_of_the_wrong_shape_is_one_clear_error(tmp_path: Path, change: dict[str, Any], words: str) -> None:
    custody = KeyCustody(tmp_path / "init.json")
    _write(custody.path, RESULT | change)
    with pytest.raises(CustodyError, match=words):
        custody.unseal_keys(3)


def test_a_keys_base64_string_is_never_split_into_characters(tmp_path: Path) -> None:
    """The reproducer: ``"keys_base64": "<one share>"`` used to unseal with its first 3 characters."""
    custody = KeyCustody(tmp_path / "init.json")
    _write(custody.path, RESULT | {"keys_base64": "abcdef"})
    with pytest.raises(CustodyError, match="is a string"):
        custody.unseal_keys(3)


@pytest.mark.parametrize("field", ["keys_base64", "root_token"])
def test_a_non_base64_pgp_share_or_token_is_one_clear_error(tmp_path: Path, field: str) -> None:
    custody = KeyCustody(tmp_path / "init.json", pgp=True)
    bad = "%%% not base64 %%%"
    _write(custody.path, RESULT | {"pgp": True, field: [bad] * 5 if field == "keys_base64" else bad})
    with pytest.raises(CustodyError, match="is not base64"):
        custody.unseal_keys(3) if field == "keys_base64" else custody.root_token()


def test_an_unreadable_keys_path_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    custody = KeyCustody(tmp_path / "blocker" / "init.json")
    with pytest.raises(CustodyError, match="cannot be read: Not a directory"):
        custody.unseal_keys(3)
