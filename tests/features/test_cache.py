"""The feature cache: same arrays as the front end, keyed by settings, bad-file policy, order."""

import json

import numpy as np
import pytest
import torch

from audiovae.data.clipset import ClipSet
from audiovae.errors import DataError
from audiovae.features.cache import build_cache
from audiovae.features.logmel import LogMelFrontEnd


def _clips(n=10, bad=(), version=1, length=4000) -> ClipSet:
    def load(i: int) -> torch.Tensor:
        if i in bad:
            raise DataError(f"clip{i}.wav: silent (peak 0.0e+00)")
        t = torch.arange(length) / 16000
        return 0.5 * torch.sin(2 * torch.pi * (200 + 50 * i) * t)

    return ClipSet(
        name="toy",
        ids=[f"clip{i}" for i in range(n)],
        labels={"pitch": list(range(n)), "qualities": [[0, 1]] * n},
        load=load,
        fingerprint={"toy": version, "length": length},
    )


def test_cache_holds_the_front_end_output_in_float16(tmp_path):
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=16)
    cache = build_cache(_clips(), fe, 4000, cache_root=tmp_path, progress=False)
    assert cache.features.dtype == np.float16 and cache.shape == (16, fe.num_frames(4000))
    clips = _clips()
    expected = fe(torch.stack([clips.load(i) for i in range(10)]))
    got = cache.batch(np.arange(10))
    torch.testing.assert_close(got, expected, atol=0.02, rtol=2e-3)  # float16 rounding
    assert cache.labels["pitch"] == list(range(10)) and cache.ids[3] == "clip3"


def test_batch_returns_rows_in_the_order_asked(tmp_path):
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=8)
    cache = build_cache(_clips(), fe, 4000, cache_root=tmp_path, progress=False)
    idx = np.array([7, 2, 9, 2])
    want = torch.from_numpy(np.asarray(cache.features[[7, 2, 9, 2]], dtype=np.float32))
    assert torch.equal(cache.batch(idx), want)


def test_second_build_reuses_and_changed_settings_rebuild(tmp_path):
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=8)
    a = build_cache(_clips(), fe, 4000, cache_root=tmp_path, progress=False)
    b = build_cache(_clips(), fe, 4000, cache_root=tmp_path, progress=False)
    assert a.path == b.path
    c = build_cache(_clips(), LogMelFrontEnd(sample_rate=16000, n_mels=12), 4000,
                    cache_root=tmp_path, progress=False)  # fmt: skip
    d = build_cache(_clips(version=2), fe, 4000, cache_root=tmp_path, progress=False)
    e = build_cache(_clips(length=3000), fe, 3000, cache_root=tmp_path, progress=False)
    assert len({a.path, c.path, d.path, e.path}) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp folder left"


def test_bad_clips_stop_or_are_skipped_and_listed(tmp_path):
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=8)
    with pytest.raises(DataError, match=r"clip3.wav: silent .*data.on_bad_file: skip"):
        build_cache(_clips(bad={3}), fe, 4000, cache_root=tmp_path, progress=False)
    assert not list(tmp_path.glob("toy-*")), "a failed build must leave no cache behind"
    cache = build_cache(_clips(bad={3, 8}), fe, 4000, cache_root=tmp_path, on_bad_file="skip",
                        progress=False)  # fmt: skip
    assert len(cache) == 8 and "clip3" not in cache.ids
    assert cache.labels["pitch"] == [0, 1, 2, 4, 5, 6, 7, 9]
    full = build_cache(_clips(), fe, 4000, cache_root=tmp_path / "other", progress=False)
    torch.testing.assert_close(cache.batch([3]), full.batch([4]))
    meta = json.loads((cache.path / "meta.json").read_text())
    assert [s["id"] for s in meta["skipped"]] == ["clip3", "clip8"]


def test_a_loader_returning_the_wrong_length_is_caught(tmp_path):
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=8)
    with pytest.raises(ValueError, match="clip0: loader returned 4000 samples, expected 3000"):
        build_cache(_clips(), fe, 3000, cache_root=tmp_path, progress=False)
