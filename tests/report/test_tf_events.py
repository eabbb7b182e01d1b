"""The report's event-file reader against TensorBoard's own loader, on files the trainer's writer
(torch.utils.tensorboard) wrote, on hand-built records and on a file cut short."""

from __future__ import annotations

import struct

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from torch.utils.tensorboard import SummaryWriter

from audiovae.report.run_info import wall_time
from audiovae.report.tf_events import event_wall_times, wall_time_of


def _write_events(folder, steps: int = 40) -> list:
    writer = SummaryWriter(str(folder))
    for step in range(steps):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.add_scalars("valid", {"kl": step * 0.5, "recon": 2.0}, step)
    writer.close()
    return sorted(folder.glob("events.out.tfevents.*"))


def test_wall_times_equal_tensorboards_loader(tmp_path):
    files = _write_events(tmp_path)
    assert files
    for path in files:
        expected = [event.wall_time for event in EventFileLoader(str(path)).Load()]
        assert len(expected) > 1
        assert event_wall_times(path) == expected


def test_wall_time_of_a_run_folder_matches_the_loader(tmp_path):
    files = _write_events(tmp_path)
    expected = 0.0
    for path in files:
        times = [event.wall_time for event in EventFileLoader(str(path)).Load()]
        expected += max(times) - min(times)
    assert expected > 0
    assert wall_time(tmp_path) == pytest.approx(expected, rel=1e-12)


def _record(payload: bytes) -> bytes:
    return struct.pack("<QI", len(payload), 0) + payload + b"\0\0\0\0"


def test_wall_time_found_after_other_fields_and_absent():
    # Event{step: 300 (field 2, varint), file_version: "x" (field 3, bytes), wall_time: 12.5}
    payload = bytes([0x10, 0xAC, 0x02, 0x1A, 0x01]) + b"x" + b"\x09" + struct.pack("<d", 12.5)
    assert wall_time_of(payload) == 12.5
    assert wall_time_of(bytes([0x10, 0x05])) is None  # a step only
    first = b"\x09" + struct.pack("<d", 3.25)
    assert wall_time_of(first) == 3.25


def test_a_record_cut_short_ends_the_stream(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    records = [_record(b"\x09" + struct.pack("<d", t)) for t in (1.0, 2.0, 4.5)]
    path.write_bytes(b"".join(records) + records[0][:7])
    assert event_wall_times(path) == [1.0, 2.0, 4.5]
    path.write_bytes(b"".join(records)[:-3])
    assert event_wall_times(path) == [1.0, 2.0]
    assert wall_time(tmp_path) == 1.0


def test_a_foreign_file_is_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "events.out.tfevents.2.host").write_bytes(_record(b"\x0f\x01\x02"))
    assert wall_time(tmp_path) is None
    assert "unreadable TensorBoard events" in caplog.text
