"""The pieces the fault handling is built from, without training: checksummed checkpoints that
keep their previous version and fail cleanly, the run-folder lock, the stop-signal handler."""

from __future__ import annotations

import errno
import os
import signal

import pytest
import torch

from audiovae.errors import CheckpointError, CheckpointWriteError, RunFolderBusy
from audiovae.train import checkpoint
from audiovae.train.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from audiovae.train.runlock import RunFolderLock, in_use, refuse_if_in_use
from audiovae.train.runtime import NO_STOP, STOP_INTERRUPT, STOP_SIGNAL, StepBoundaryInterrupt


def _write(path, value: float, step: int, **kwargs):
    tensors = {"w": torch.full((64,), value), "b16": torch.ones(3, dtype=torch.bfloat16) * value}
    return save_checkpoint(path, tensors, {"step": step}, **kwargs)


def test_a_flipped_byte_in_a_tensor_is_caught_by_its_checksum(tmp_path):
    path = _write(tmp_path / "c.safetensors", 1.5, 3)
    tensors, meta = load_checkpoint(path)
    assert meta == {"format_version": 1, "step": 3}  # checksums are checked, not returned
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor's bytes; the header stays readable
    path.write_bytes(bytes(data))
    assert read_metadata(path)["step"] == 3
    with pytest.raises(CheckpointError, match="damaged: 1 tensor"):
        load_checkpoint(path)
    load_checkpoint(path, verify=False)  # readable, just not trustworthy


def test_the_checksum_is_of_the_bytes_an_independent_hash_gives(tmp_path):
    import hashlib
    import json

    from safetensors import safe_open

    path = _write(tmp_path / "c.safetensors", 2.0, 1)
    with safe_open(str(path), "pt") as fh:
        stored = json.loads(fh.metadata()["audiovae"])["tensor_sha256"]
    w = torch.full((64,), 2.0).numpy().tobytes()  # float32, little-endian, as written
    assert stored["w"] == hashlib.sha256(b"torch.float32(64,)" + w).hexdigest()


def test_keep_previous_keeps_the_replaced_file(tmp_path):
    last, prev = tmp_path / "last.safetensors", tmp_path / "previous.safetensors"
    _write(last, 1.0, 1, keep_previous=prev)
    assert not prev.exists()  # nothing to keep yet
    _write(last, 2.0, 2, keep_previous=prev)
    _write(last, 3.0, 3, keep_previous=prev)
    assert read_metadata(last)["step"] == 3 and read_metadata(prev)["step"] == 2
    assert load_checkpoint(prev)[0]["w"][0].item() == 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [last.name, prev.name]


@pytest.mark.parametrize("stage", ["write", "link"])
def test_a_failed_write_leaves_the_files_untouched_and_no_temporary(tmp_path, monkeypatch, stage):
    last, prev = tmp_path / "last.safetensors", tmp_path / "previous.safetensors"
    _write(last, 1.0, 1, keep_previous=prev)
    _write(last, 2.0, 2, keep_previous=prev)
    before = {p.name: p.read_bytes() for p in (last, prev)}

    def fail(*args, **kwargs):
        if stage == "write":  # a part of the file is written before the disk fills up
            open(args[1], "wb").write(b"\0" * 10)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint, "save_file" if stage == "write" else "_link_or_copy", fail)
    with pytest.raises(CheckpointWriteError, match=f"could not write {last}: No space left"):
        _write(last, 3.0, 3, keep_previous=prev)
    assert {p.name: p.read_bytes() for p in (last, prev)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [last.name, prev.name]


def test_a_folder_holds_one_writer(tmp_path):
    run = tmp_path / "run"
    assert not in_use(run)
    with RunFolderLock(run):
        assert in_use(run)
        with pytest.raises(RunFolderBusy, match=rf"{run} is in use .*\(pid {os.getpid()} on "):
            RunFolderLock(run).acquire()  # a second open file: refused, even in this process
        with pytest.raises(RunFolderBusy):
            refuse_if_in_use(run)
    assert not in_use(run)
    RunFolderLock(run).acquire().release()  # free again once the holder let go


def test_stop_signals_are_requests_and_a_second_ctrl_c_is_not():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with StepBoundaryInterrupt() as stop:
        assert stop.code == NO_STOP
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.code == STOP_SIGNAL and stop.signal_name == "SIGUSR1"
        os.kill(os.getpid(), signal.SIGTERM)  # repeated (a launcher forwarding it): still a request
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after SIGTERM: SIGTERM's code stays
        assert stop.code == STOP_SIGNAL
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C: stop now
    assert signal.getsignal(signal.SIGTERM) == before[signal.SIGTERM]  # restored on exit
    with StepBoundaryInterrupt(hard_second_ctrl_c=False) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # under torchrun: terminal and launcher, both
        assert stop.code == STOP_INTERRUPT and stop.signal_name == "SIGINT"
    # restored on exit (a shell's background job starts with SIGINT ignored, so compare with
    # what was there, not with Python's default handler)
    assert signal.getsignal(signal.SIGINT) == before[signal.SIGINT]
