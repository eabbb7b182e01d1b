"""Checkpoint files: atomic, pickle-free, optimiser state round trip, clear errors."""

import json

import pytest
import torch

from audiovae.errors import CheckpointError
from audiovae.train.checkpoint import (
    load_checkpoint,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    save_checkpoint,
)


def test_round_trip_with_prefix(tmp_path):
    tensors = {
        "model.w": torch.arange(6.0).view(2, 3),
        "model.b": torch.ones(2),
        "rng.x": torch.zeros(3),
    }
    path = save_checkpoint(
        tmp_path / "c.safetensors", tensors, {"step": 7, "nested": {"a": [1, 2]}}
    )
    loaded, meta = load_checkpoint(path, prefix="model")
    assert set(loaded) == {"w", "b"}
    torch.testing.assert_close(loaded["w"], tensors["model.w"])
    assert meta["step"] == 7 and meta["nested"] == {"a": [1, 2]} and meta["format_version"] == 1
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_adamw_state_round_trip_continues_identically():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=0.1, betas=(0.8, 0.9), weight_decay=0.01)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    tensors, info = optimizer_state_to_tensors(opt.state_dict())
    tensors = {k: v.clone() for k, v in tensors.items()}  # as if read from disk: no aliasing
    info = json.loads(json.dumps(info))  # must survive JSON
    clone = torch.nn.Linear(3, 2)
    clone.load_state_dict(net.state_dict())
    opt2 = torch.optim.AdamW(clone.parameters(), lr=0.1)
    opt2.load_state_dict(optimizer_state_from_tensors(tensors, info))
    x = torch.randn(4, 3)
    for o, n in ((opt, net), (opt2, clone)):
        o.zero_grad()
        n(x).pow(2).sum().backward()
        o.step()
    for a, b in zip(net.parameters(), clone.parameters(), strict=True):
        assert torch.equal(a, b)
    assert opt2.param_groups[0]["betas"] == (0.8, 0.9)


def test_missing_corrupt_and_foreign_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(bad)
    from safetensors.torch import save_file

    save_file({"w": torch.ones(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match="no audiovae metadata"):
        load_checkpoint(tmp_path / "foreign.safetensors")


def test_overwrite_is_atomic_replace(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"a": torch.zeros(1)}, {"step": 1})
    save_checkpoint(path, {"a": torch.ones(1)}, {"step": 2})
    tensors, meta = load_checkpoint(path)
    assert meta["step"] == 2 and tensors["a"].item() == 1.0
