"""First use of a lab secret under concurrency (issue 16, kind 6: `[Errno 17] File exists:
.lab/secrets/redis_password` and readers seeing it empty on a fresh `lab up`)."""

from __future__ import annotations

import contextlib
import multiprocessing
import secrets
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from iklim.lab.context import LabContext
from iklim.lab.secretfile import SecretFileError, first_use
from iklim.model.schema import Environment


def _slow_token() -> str:
    threading.Event().wait(0.01)  # widen the window between "absent" and "written"
    return secrets.token_urlsafe(24)


def test_many_threads_creating_one_secret_get_one_non_empty_value(tmp_path: Path) -> None:
    for round_ in range(20):
        path = tmp_path / f"round-{round_}" / "redis_password"
        barrier = threading.Barrier(16)

        def use(_: int, path: Path = path, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return first_use(path, _slow_token)

        with ThreadPoolExecutor(max_workers=16) as pool:
            values = set(pool.map(use, range(16)))
        assert len(values) == 1 and "" not in values
        assert path.read_text().strip() == values.pop()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert sorted(p.name for p in path.parent.iterdir()) == ["redis_password"], "no temp or lock file left"


def _process_use(path: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue[str]) -> None:
    barrier.wait()
    try:
        out.put(first_use(Path(path), _slow_token))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        out.put(f"ERROR {type(exc).__name__}: {exc}")


def test_many_processes_creating_one_secret_get_one_value_and_no_error(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        path = tmp_path / f"round-{round_}" / "secrets" / "redis_password"
        barrier, out = context.Barrier(8), context.Queue()
        workers = [context.Process(target=_process_use, args=(str(path), barrier, out)) for _ in range(8)]
        for worker in workers:
            worker.start()
        values = {out.get(timeout=30) for _ in workers}
        for worker in workers:
            worker.join(timeout=30)
        assert len(values) == 1, values
        assert not values.pop().startswith("ERROR")


def test_a_reader_never_sees_the_secret_empty_or_partial(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "rabbitmq_admin_password"
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.append(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        value = first_use(path, lambda: "x" * 100_000)  # large enough to be written in pieces
    finally:
        stop.set()
        reader.join()
    assert value == "x" * 100_000
    assert all(text == value + "\n" for text in seen), "a reader saw a partial or empty secret"


def test_an_empty_secret_left_by_an_older_lab_is_replaced_once(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "redis_password"
    path.parent.mkdir()
    path.write_text("")
    with ThreadPoolExecutor(max_workers=8) as pool:
        values = set(pool.map(lambda _: first_use(path, _slow_token), range(8)))
    assert len(values) == 1 and "" not in values


def test_an_existing_secret_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("kept\n")
    assert first_use(path, lambda: "new") == "kept"


def test_a_secret_that_cannot_be_written_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "secrets").write_text("a file where the folder goes")
    with pytest.raises(SecretFileError, match=r"cannot create the secret .*secrets/pw: Not a directory"):
        first_use(tmp_path / "secrets" / "pw", lambda: "x")


def test_lab_components_asking_for_one_secret_at_once_agree(prod_env: Environment, tmp_path: Path) -> None:
    """The reproducer: Redis and its exporter (and others) call ``ctx.secret`` at the same moment."""
    for round_ in range(20):
        ctx = LabContext.create(prod_env, tmp_path / f"lab-{round_}", "/usr/lib/postgresql/15/bin")
        barrier = threading.Barrier(12)

        def use(_: int, ctx: LabContext = ctx, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return ctx.secret("redis_password")

        with ThreadPoolExecutor(max_workers=12) as pool:
            values = set(pool.map(use, range(12)))
        assert len(values) == 1 and "" not in values
