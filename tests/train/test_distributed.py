"""Data parallelism: torchrun with 2 gloo processes on CPU against 1 process, same global batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open
from support import REPO, tiny_tree

from audiovae.errors import AudioVAEError, RecipeError
from audiovae.models.noise import batch_shard, current_shard, standard_normal, standard_uniform
from audiovae.objectives.tc import decompose_kl
from audiovae.train import distributed
from audiovae.train.distributed import DistributedContext


def test_context_from_env_reads_torchrun_variables():
    ctx = distributed.context_from_env(
        {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    )
    assert ctx == DistributedContext(3, 4, 1, 2) and ctx.enabled and not ctx.is_main
    assert distributed.context_from_env({}) == DistributedContext()
    with pytest.raises(AudioVAEError, match="WORLD_SIZE='two'"):
        distributed.context_from_env({"WORLD_SIZE": "two"})


def test_shards_are_contiguous_disjoint_and_cover_the_batch():
    batch = np.arange(100, 112)
    parts = [distributed.shard(batch, DistributedContext(r, 3)) for r in range(3)]
    np.testing.assert_array_equal(np.concatenate(parts), batch)
    assert distributed.check_divisible(12, DistributedContext(0, 3)) == 4
    with pytest.raises(RecipeError, match="batch_size=10 does not split over 3"):
        distributed.check_divisible(10, DistributedContext(0, 3))


@pytest.mark.parametrize("shape", [(6, 5), (3, 6, 5)])
def test_sharded_noise_equals_the_single_process_draw(shape):
    full = standard_normal(shape, torch.Generator().manual_seed(7), torch.device("cpu"))
    local = list(shape)
    local[-2] //= 3
    parts = []
    for rank in range(3):
        with batch_shard(rank, 3):
            parts.append(
                standard_normal(local, torch.Generator().manual_seed(7), torch.device("cpu"))
            )
    torch.testing.assert_close(torch.cat(parts, dim=-2), full, rtol=0, atol=0)


def test_whole_batch_keys_are_the_draw_every_rank_slices():
    """FactorVAE's permutation keys: the whole [B, D] draw inside a shard, as one process draws."""
    full = standard_uniform((6, 3), torch.Generator().manual_seed(5), torch.device("cpu"))
    with batch_shard(1, 2):
        assert current_shard() == (1, 2)
        whole = standard_uniform(
            (6, 3), torch.Generator().manual_seed(5), torch.device("cpu"), whole_batch=True
        )
        local = standard_uniform((3, 3), torch.Generator().manual_seed(5), torch.device("cpu"))
    assert current_shard() is None
    torch.testing.assert_close(whole, full, rtol=0, atol=0)
    torch.testing.assert_close(local, full[3:], rtol=0, atol=0)


def _params(path):
    with safe_open(str(path), "pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys() if k.startswith("model.")}


def _train(recipe, out, nproc: int, *extra: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    if nproc == 1:
        cmd = [sys.executable, "-m", "audiovae", "train", str(recipe), "--out", str(out)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "audiovae", "train", str(recipe),
               "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd + list(extra), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:  # a hung collective: take the workers down too
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        raise AssertionError(f"{' '.join(cmd[:6])} timed out:\n{stderr[-3000:]}") from None
    assert proc.returncode == 0, stderr[-3000:]


def test_two_processes_match_one_and_resume_across_world_sizes(tmp_path, cache_dir):
    """torchrun --nproc_per_node 2 (gloo) == 1 process with the same global batch, to float
    tolerance, with random crops and noise sharded; a 2-process checkpoint resumes in 1 process."""
    tree = tiny_tree(cache_dir, max_steps=8, checkpoint_every=4, validate_every=4, num_threads=1)
    tree["data"]["train_crop_seconds"] = 0.4
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tree))
    _train(recipe, tmp_path / "one", 1)
    _train(recipe, tmp_path / "two", 2, "--set", "train.max_steps=4")
    _train(recipe, tmp_path / "two", 1, "--resume")
    one = _params(tmp_path / "one/checkpoints/last.safetensors")
    two = _params(tmp_path / "two/checkpoints/last.safetensors")
    assert one.keys() == two.keys()
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-5, msg=k)
    logged = (tmp_path / "two/metrics.jsonl").read_text().splitlines()
    assert any('"examples_per_s"' in line for line in logged)


def test_paired_training_matches_one_process_and_resumes_across_world_sizes(tmp_path, cache_dir):
    """Ada-GVAE on pairs: each rank's contiguous slice holds whole pairs (rows 2i, 2i+1), the
    pairs are drawn for the global batch from (seed, step), so 2 gloo processes end where 1 does,
    and a 2-process checkpoint resumes in 1 process."""
    tree = tiny_tree(cache_dir, max_steps=4, checkpoint_every=2, validate_every=2, num_threads=1)
    tree["data"]["train_crop_seconds"] = 0.4
    tree["data"]["pairs"] = {"share": "random", "unpaired": "skip"}
    tree["objective"] = {"name": "ada_gvae", "scale": 0.3, "beta": 2.0}
    recipe = tmp_path / "paired.yaml"
    recipe.write_text(yaml.safe_dump(tree))
    _train(recipe, tmp_path / "one", 1)
    _train(recipe, tmp_path / "two", 2, "--set", "train.max_steps=2")
    _train(recipe, tmp_path / "two", 1, "--resume")
    one = _params(tmp_path / "one/checkpoints/last.safetensors")
    two = _params(tmp_path / "two/checkpoints/last.safetensors")
    assert one.keys() == two.keys()
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-5, msg=k)


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_decompose_kl_of_row_blocks_equals_the_rows_of_the_whole_batch(estimator):
    """What each process computes under torchrun: its rows, estimated with the global batch."""
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g) * 0.3
    z = mu + torch.randn(6, 4, generator=g) * (0.5 * logvar).exp()
    whole = decompose_kl(z, mu, logvar, 100, estimator)
    blocks = [decompose_kl(z, mu, logvar, 100, estimator, rows=slice(r, r + 2)) for r in (0, 2, 4)]
    for name, full in whole._asdict().items():
        parts = torch.cat([getattr(b, name) for b in blocks])
        torch.testing.assert_close(parts, full, rtol=1e-6, atol=1e-6, msg=name)


@pytest.mark.parametrize(
    "objective",
    [{"name": "beta_tcvae", "scale": 0.3, "beta": 4.0}, {"name": "factor_vae", "scale": 0.3}],
    ids=["beta_tcvae", "factor_vae"],
)
def test_batch_estimating_objectives_match_one_process(tmp_path, cache_dir, objective):
    """beta-TCVAE's estimators of q(z) and FactorVAE's permuted codes see the global batch under
    torchrun (gathered from every rank), so 2 processes end where 1 does, the discriminator too
    (it stays outside DDP and has its gradients averaged by hand)."""
    tree = tiny_tree(cache_dir, max_steps=6, checkpoint_every=6, num_threads=1)
    tree["objective"] = objective
    recipe = tmp_path / "batch.yaml"
    recipe.write_text(yaml.safe_dump(tree))
    _train(recipe, tmp_path / "one", 1)
    _train(recipe, tmp_path / "two", 2)
    runs = {}
    for name in ("one", "two"):
        with safe_open(str(tmp_path / name / "checkpoints/last.safetensors"), "pt") as fh:
            runs[name] = {k: fh.get_tensor(k) for k in fh.keys()}
    keys = [k for k in runs["one"] if k.startswith(("model.", "objective."))]
    if objective["name"] == "factor_vae":
        assert any(k.startswith("objective.discriminator.") for k in keys)
        assert any(k.startswith("aux_optim.") for k in runs["two"])
    for k in keys:
        torch.testing.assert_close(runs["two"][k], runs["one"][k], rtol=1e-4, atol=1e-5, msg=k)


def test_cache_on_device_trains_like_the_memory_mapped_cache(tmp_path, cache_dir):
    from audiovae.recipe import recipe_from_dict
    from audiovae.train.trainer import Trainer

    runs = {}
    for policy in ("no", "yes"):
        trainer = Trainer(
            recipe_from_dict(tiny_tree(cache_dir, max_steps=4, cache_on_device=policy)),
            tmp_path / policy,
        )
        assert trainer.batches.on_device == (policy == "yes")
        trainer.fit()
        runs[policy] = _params(tmp_path / policy / "checkpoints/last.safetensors")
    for k in runs["no"]:
        assert torch.equal(runs["no"][k], runs["yes"][k]), k


def test_compiled_step_trains_like_eager(tmp_path, cache_dir):
    """train.compile wraps the loss module in torch.compile (inductor, ~30 s to compile on 2
    cores); 20 steps end within float tolerance of the eager run."""
    from audiovae.recipe import recipe_from_dict
    from audiovae.train.trainer import Trainer

    runs = {}
    for compiled in (False, True):
        tree = tiny_tree(cache_dir, max_steps=20, checkpoint_every=20, compile=compiled)
        Trainer(recipe_from_dict(tree), tmp_path / str(compiled)).fit()
        runs[compiled] = _params(tmp_path / str(compiled) / "checkpoints/last.safetensors")
    for k in runs[False]:
        torch.testing.assert_close(runs[True][k], runs[False][k], rtol=1e-3, atol=1e-4, msg=k)


def test_a_sharded_draw_needs_a_batch_axis_and_one_gpu_per_process():
    with batch_shard(0, 2), pytest.raises(ValueError, match="batch axis"):
        standard_normal((5,), None, torch.device("cpu"))
    with pytest.raises(RecipeError, match="one GPU"):
        distributed.rank_device(DistributedContext(0, 2, 0, 2), torch.device("cuda", 1))
    assert distributed.rank_device(DistributedContext(1, 2, 1, 2), torch.device("cuda")).index == 1


def test_ctrl_c_is_honoured_between_steps_and_resume_stays_exact(tmp_path, cache_dir):
    """SIGINT in the middle of step 7 stops after that step, saves step 8, and --resume ends
    where an uninterrupted run ends."""
    import signal as sig

    from audiovae.recipe import recipe_from_dict
    from audiovae.train.trainer import Trainer

    recipe = recipe_from_dict(tiny_tree(cache_dir, max_steps=16, checkpoint_every=100))
    Trainer(recipe, tmp_path / "full").fit()
    trainer = Trainer(recipe, tmp_path / "cut")
    original = trainer.train_step

    def step_with_ctrl_c():
        if trainer.step == 7:
            os.kill(os.getpid(), sig.SIGINT)  # arrives mid-step; the step must still complete
        return original()

    trainer.train_step = step_with_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    with safe_open(str(tmp_path / "cut/checkpoints/last.safetensors"), "pt") as fh:
        import json

        assert json.loads(fh.metadata()["audiovae"])["step"] == 8
    Trainer(recipe, tmp_path / "cut", resume=True).fit()
    full = _params(tmp_path / "full/checkpoints/last.safetensors")
    resumed = _params(tmp_path / "cut/checkpoints/last.safetensors")
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


def test_a_diverging_discriminator_stops_training(tmp_path, cache_dir):
    """Non-finite auxiliary (discriminator) losses count as divergence too."""
    from audiovae.errors import TrainingDiverged
    from audiovae.recipe import recipe_from_dict
    from audiovae.train.trainer import Trainer

    tree = tiny_tree(cache_dir, max_steps=10, checkpoint_every=5)
    tree["objective"] = {"name": "factor_vae", "scale": 0.3}
    trainer = Trainer(recipe_from_dict(tree), tmp_path / "d")
    original = trainer.objective.auxiliary_loss

    def nan_auxiliary_loss(*args, **kwargs):
        out = original(*args, **kwargs)
        out.loss = out.loss * float("nan")  # the main loss of step 0 stays finite
        return out

    trainer.objective.auxiliary_loss = nan_auxiliary_loss
    with pytest.raises(TrainingDiverged, match="non-finite at step 0"):
        trainer.fit()
