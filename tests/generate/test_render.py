"""The Renderer's CPU batching: small batches on worker threads (torch at one thread each) give
what one call of the stage on the whole batch gives, in order, and leave torch's thread count as
it was."""

from __future__ import annotations

import threading

import torch

from audiovae.features.logmel import LogMelFrontEnd
from audiovae.generate.render import RENDER_BATCH, Renderer, cpu_batch
from audiovae.phase.stage import MelToAudio


def _logmels(n: int = 5) -> tuple[MelToAudio, torch.Tensor]:
    fe = LogMelFrontEnd(n_mels=32)
    t = torch.arange(4000) / 16000
    waves = torch.stack([torch.sin(2 * torch.pi * 110 * (k + 1) * t) * (0.2 + 0.1 * k)
                         for k in range(n)])  # fmt: skip
    return MelToAudio(fe, n_iter=3), fe(waves)


class _Recording:
    """The stage, recording per call: clips, torch's thread count and the calling thread."""

    def __init__(self, stage: MelToAudio) -> None:
        self.stage, self.window, self.n_fft, self.calls = stage, stage.window, stage.n_fft, []
        self.lock = threading.Lock()

    def __call__(self, logmel, **kwargs):
        with self.lock:
            self.calls.append((logmel.shape[0], torch.get_num_threads(), threading.get_ident()))
        return self.stage(logmel, **kwargs)


def test_cpu_batches_on_threads_equal_one_call_in_order():
    stage, logmels = _logmels(5)
    with torch.no_grad():
        whole = stage(logmels, length=4000, generator=torch.Generator().manual_seed(0))
    threads_before = torch.get_num_threads()
    recording = _Recording(stage)
    render = Renderer(recording, batch=2, workers=2)
    out = render(logmels, 4000)
    assert sorted(c[0] for c in recording.calls) == [1, 2, 2]  # 5 clips in batches of 2
    assert all(c[1] == 1 for c in recording.calls)  # torch at one thread in every worker
    assert torch.get_num_threads() == threads_before
    assert out.shape == (5, 4000)
    torch.testing.assert_close(out, whole, rtol=0, atol=1e-5)  # phase start: pghi, no draws
    sequential = Renderer(stage, batch=2, workers=1)(logmels, 4000)
    assert torch.equal(out, sequential)  # the worker threads change nothing


def test_cpu_batch_by_size_and_workers():
    # 4-s clips at n_fft 1024: 251 frames x 513 bins = 128,763 cells, 2 fit in 2^18
    assert cpu_batch(16, 251, 1024, workers=2) == 2
    # 1-s clips (64 frames, 32,832 cells): 7 fit, but 7 clips on 2 workers take 4 and 3
    assert cpu_batch(7, 64, 1024, workers=2) == 4
    assert cpu_batch(7, 64, 1024, workers=1) == 7
    assert cpu_batch(20, 64, 1024, workers=2) == 5  # 4 batches of 5, not 7 + 7 + 6
    assert cpu_batch(3, 4000, 2048, workers=2) == 1  # a long clip alone
    stage, logmels = _logmels(5)
    recording = _Recording(stage)
    Renderer(recording, workers=2)(logmels, 4000)  # 5 short clips: 3 and 2
    assert sorted(c[0] for c in recording.calls) == [2, 3]


def test_explicit_batch_and_workers():
    stage, _ = _logmels(1)
    assert Renderer(stage, batch=7).batch == 7 and Renderer(stage).batch is None
    assert Renderer(stage, workers=3).workers == 3
    assert RENDER_BATCH == 32  # what a GPU gets by default
