"""Which clips each training step sees and their log-mel windows, as pure functions of (seed,
step): the shuffled order of each epoch (or, with `data.pairs`, the step's pairs), the random
window of each clip, and the gathering of a batch from the cache (from device memory when the
whole cache fits there). Offsets are drawn for the global batch and sharded like it, so resume
is exact and torchrun follows the single-process trajectory."""

from __future__ import annotations

import numpy as np
import torch

from audiovae.data.pairs import PairPlan, plan_from_section
from audiovae.errors import RecipeError
from audiovae.features.cache import FeatureCache
from audiovae.features.training_data import TrainingData
from audiovae.recipe import PairsSection, TrainSection
from audiovae.train import distributed


class Batches:
    """The batches of one run: `indices(step)`, `gather(cache, indices)`, `window(batch, step)`.

    `batch_size` is the global batch (at most the number of training clips); `frames` the model's
    window; `crop` the validation window (`data.crop`: start or center)."""

    def __init__(
        self,
        data: TrainingData,
        cfg: TrainSection,
        *,
        batch_size: int,
        frames: int,
        crop: str,
        dist: distributed.DistributedContext,
        device: torch.device,
        pairs: PairPlan | None = None,
    ) -> None:
        self.data = data
        self.seed = cfg.seed
        self.batch_size = batch_size
        self.frames = frames
        self.crop = crop
        self.dist = dist
        self.pairs = pairs
        self.steps_per_epoch = int(data.train_indices.size) // batch_size
        self._order_epoch: int | None = None
        self._order = np.empty(0, dtype=np.int64)
        self._resident: dict[int, torch.Tensor] = {}
        nbytes = data.train.features.nbytes
        if keep_cache_on_device(cfg.cache_on_device, device, nbytes):
            self._resident[id(data.train)] = resident_copy(data.train.features, device)

    @property
    def on_device(self) -> bool:
        """Whether the training cache is held in device memory."""
        return bool(self._resident)

    def indices(self, step: int) -> np.ndarray:
        """Training clip indices of global step `step` (a pure function of seed and step); with
        `data.pairs`, batch_size / 2 pairs, rows (2i, 2i + 1) partners (data/pairs.py)."""
        if self.pairs is not None:
            return self.pairs.batch(self.seed, step, self.batch_size // 2)
        epoch, within = divmod(step, self.steps_per_epoch)
        chosen = self._epoch_order(epoch)[within * self.batch_size : (within + 1) * self.batch_size]
        return self.data.train_indices[chosen]

    def _epoch_order(self, epoch: int) -> np.ndarray:
        """The shuffled clip order of `epoch`, drawn from (seed, epoch) once and kept for the
        epoch's steps (a 289k-clip randperm per step would cost milliseconds on the hot path)."""
        if self._order_epoch != epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = torch.randperm(self.data.train_indices.size, generator=gen).numpy()
            self._order_epoch = epoch
        return self._order

    def gather(self, cache: FeatureCache, indices: np.ndarray) -> torch.Tensor:
        """float32 log-mels of `indices`, gathered on the device when the cache lives there."""
        resident = self._resident.get(id(cache))
        if resident is None:
            return cache.batch(indices)
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=resident.device)
        return resident.index_select(0, idx).float()

    def window(self, batch: torch.Tensor, step: int | None = None) -> torch.Tensor:
        """The model's window of cached log-mels [batch, mels, frames]: a random window per clip
        at training steps (offsets a pure function of seed and step, drawn for the global batch
        and sharded like it, so resume stays exact at any world size), the `data.crop` window
        (start or center) for validation; the whole clip without a crop."""
        frames = self.frames
        spare = batch.shape[-1] - frames
        if spare <= 0:
            return batch
        if step is None:
            offset = 0 if self.crop == "start" else spare // 2
            return batch[..., offset : offset + frames]
        gen = torch.Generator().manual_seed(self.seed * 7_919 + 104_729 * step + 1)
        global_n = batch.shape[0] * self.dist.world_size
        offsets = torch.randint(0, spare + 1, (global_n,), generator=gen)
        offsets = torch.from_numpy(distributed.shard(offsets.numpy(), self.dist))
        return random_windows(batch, offsets.to(batch.device), frames)


def pair_plans(
    section: PairsSection | None,
    data: TrainingData,
    *,
    seed: int,
    batch_size: int,
    recipe_batch_size: int,
    dist: distributed.DistributedContext,
) -> tuple[PairPlan | None, np.ndarray | None]:
    """With `data.pairs`: the training pair plan, and the fixed validation pairs (each
    validation note once, its partner from the notes it may see; notes without one are left
    out of validation). train.batch_size counts notes, so it must split into whole pairs on
    every rank."""
    if section is None:
        return None, None
    if (recipe_batch_size % (2 * dist.world_size)) or batch_size % 2:
        raise RecipeError(
            f"train.batch_size={batch_size} does not split into whole pairs over "
            f"{dist.world_size} process(es); use a multiple of {2 * dist.world_size}"
        )
    train, valid = data.train, data.valid
    plan = plan_from_section(section, train.labels, data.train_indices, ids=train.ids)
    pool = data.valid_indices
    if valid is train:  # a held-out share of one cache: partners from all of its notes
        pool = np.union1d(data.train_indices, data.valid_indices)
    valid_plan = plan_from_section(
        section, valid.labels, pool, ids=valid.ids, anchors=data.valid_indices,
        unpaired="skip", what="validation", every_kind=False,
    )  # fmt: skip
    return plan, valid_plan.each_anchor_once(seed)


def keep_cache_on_device(policy: str, device: torch.device, nbytes: int) -> bool:
    """Whether to hold the whole training cache (`nbytes`) in device memory and gather batches
    there (no host work between steps): `auto` does so on CUDA when it takes under half the free
    memory; `yes` also on CPU (the cache read into RAM once instead of memory-mapped)."""
    if policy == "no":
        return False
    if policy == "yes":
        return True
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes < 0.5 * free


def resident_copy(features: np.ndarray, device: torch.device, chunk: int = 4096) -> torch.Tensor:
    """The float16 cache as one device tensor, copied in chunks (no second full copy in RAM)."""
    out = torch.empty(features.shape, dtype=torch.float16, device=device)
    for start in range(0, features.shape[0], chunk):
        block = np.array(features[start : start + chunk], dtype=np.float16)
        out[start : start + len(block)].copy_(torch.from_numpy(block))
    return out


def random_windows(batch: torch.Tensor, offsets: torch.Tensor, frames: int) -> torch.Tensor:
    """batch[i, :, offsets[i] : offsets[i] + frames] for every i, in one gather."""
    index = (offsets[:, None] + torch.arange(frames, device=offsets.device)[None, :])[:, None, :]
    return batch.gather(2, index.expand(batch.shape[0], batch.shape[1], frames))


def example_indices(valid_indices: np.ndarray, n: int) -> np.ndarray:
    """n validation clips spread evenly over the set (not n neighbours of one kind)."""
    idx = valid_indices
    return idx[np.linspace(0, idx.size - 1, min(n, idx.size)).round().astype(int)]
