"""Issue 29 items 7, 10 and 12 (DM-mathematics install): what a run reads from disk or the network is checked.

Before the fix: a bit-flipped embedding chunk in the store was used silently and a truncated one raised on every
rerun; a scheduler that accepted the connection but never answered hung the run for 167 s without a message; the
DM-mathematics generator was installed by pip without hash pins.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from geomclaims.resources import embeddings

TEXTS = [f"text number {i}" for i in range(7)]


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """embed() with a deterministic stand-in for the model (counts how many chunks it computes)."""
    monkeypatch.setenv("GEOMCLAIMS_RESULTS_CACHE", str(tmp_path / "results"))
    monkeypatch.setattr(embeddings, "model_sha", lambda name: "0" * 64)
    monkeypatch.setattr(embeddings, "CHUNK_TEXTS", 4)
    calls: list[int] = []

    def compute(model_name, texts, layer, pooling, max_length, batch_size, device, progress):
        calls.append(len(texts))
        return np.array([[len(t), i + 0.25] for i, t in enumerate(texts)], dtype=np.float32)

    monkeypatch.setattr(embeddings, "_compute", compute)
    return calls


def _embed() -> np.ndarray:
    return embeddings.embed("fake", TEXTS, batch_size=2, device="cpu", progress=False)


def _first_chunk() -> Path:
    return embeddings.embedding_cache_path("fake", TEXTS[:4], -1, "mean", 128, 2)


# --------------------------------------------------------------------------------- item 7: corrupt embedding chunks
def test_a_bit_flipped_chunk_is_recomputed_not_used(fake_model: list[int]):
    clean = _embed()
    assert fake_model == [4, 3]
    path = _first_chunk()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # one bit of the last float: still a valid .npy of the right shape, finite
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="recomputing corrupt embedding chunk.*sha256"):
        again = _embed()
    assert fake_model == [4, 3, 4]
    np.testing.assert_array_equal(again, clean)


@pytest.mark.parametrize("damage", ["truncate", "no-sidecar"])
def test_a_truncated_or_unverified_chunk_is_recomputed_once(fake_model: list[int], damage: str):
    clean = _embed()
    path = _first_chunk()
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:60])
    else:
        path.with_name(path.name + ".sha256").unlink()
    with pytest.warns(UserWarning, match="recomputing corrupt embedding chunk"):
        np.testing.assert_array_equal(_embed(), clean)
    np.testing.assert_array_equal(_embed(), clean)  # repaired: the third call computes nothing
    assert fake_model == [4, 3, 4]


def test_chunks_are_the_bytes_np_save_writes(fake_model: list[int], tmp_path: Path):
    """The cached chunk is bit-identical to a plain np.save of the same array (numbers unchanged by the fix)."""
    _embed()
    arr = np.load(_first_chunk())
    np.save(tmp_path / "plain.npy", arr)
    assert (tmp_path / "plain.npy").read_bytes() == _first_chunk().read_bytes()


# ---------------------------------------------------------------------------------- item 10: a silent scheduler
@pytest.fixture
def silent_scheduler() -> str:
    """A TCP server that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_scheduler_that_never_answers_fails_fast_with_a_message(silent_scheduler: str, monkeypatch, capsys):
    from geomclaims.executor import SchedulerUnavailable, start_executor

    monkeypatch.setenv("GEOMCLAIMS_SCHEDULER_TIMEOUT", "2")
    start = time.monotonic()
    with pytest.raises(SchedulerUnavailable, match=f"{silent_scheduler}.*did not answer within 2 s"):
        start_executor(scheduler=silent_scheduler)
    assert time.monotonic() - start < 30
    assert f"connecting to the Dask scheduler {silent_scheduler}" in capsys.readouterr().err


def test_the_cli_reports_a_silent_scheduler_in_one_line(
    project: Path, silent_scheduler: str, monkeypatch, capsys
):
    from geomclaims.cli import main

    monkeypatch.setenv("GEOMCLAIMS_SCHEDULER_TIMEOUT", "2")
    rc = main(["run", "--device", "cpu", "--claim", "F2", "--scheduler", silent_scheduler])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("geomclaims: error:")]
    assert len(lines) == 1 and silent_scheduler in lines[0] and "GEOMCLAIMS_SCHEDULER_TIMEOUT" in lines[0]


# ------------------------------------------------------------------------ item 12: DM-mathematics hash-checking mode
def test_the_dm_generator_venv_is_installed_in_hash_checking_mode(tmp_path: Path, monkeypatch):
    import subprocess

    from geomclaims.resources import lm_corpora

    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GEOMCLAIMS_OFFLINE", "0")
    commands: list[tuple[list[str], str]] = []

    def fake_run(cmd, **kwargs):
        text = ""
        if "-r" in cmd:
            text = Path(cmd[cmd.index("-r") + 1]).read_text()
        commands.append((list(cmd), text))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(lm_corpora.subprocess, "run", fake_run)
    lm_corpora._dm_venv(progress=False)
    pip = [(cmd, text) for cmd, text in commands if "pip" in cmd]
    assert len(pip) == 1
    cmd, requirements = pip[0]
    assert {"--require-hashes", "--no-deps", "--only-binary=:all:"} <= set(cmd)
    assert not any(arg.startswith(("mathematics", "sympy", "numpy")) for arg in cmd)  # only via the file
    lines = requirements.splitlines()
    names = {line.split("==")[0] for line in lines}
    assert {"mathematics_dataset", "sympy", "numpy", "mpmath", "six", "absl-py"} <= names
    for line in lines:
        spec, _, pin = line.partition(" --hash=sha256:")
        assert "==" in spec and len(pin) == 64 and int(pin, 16) >= 0, line
