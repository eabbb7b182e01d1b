"""The Renderer's CPU batching: small batches on worker threads (torch at one thread each) give
what one call of the stage on the whole batch gives, in order, and leave torch's thread count as
it was."""

from __future__ import annotations

import threading

import torch

from audiovae.features.logmel import LogMelFrontEnd
from audiovae.generate.render import CPU_RENDER_BATCH, RENDER_BATCH, Renderer
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
        self.stage, self.window, self.calls = stage, stage.window, []
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


def test_default_batch_by_device():
    stage, _ = _logmels(1)
    assert Renderer(stage).batch == CPU_RENDER_BATCH
    assert Renderer(stage, batch=7).batch == 7
    assert Renderer(stage, workers=3).workers == 3
    assert CPU_RENDER_BATCH < RENDER_BATCH
