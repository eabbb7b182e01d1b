"""subspace_vae: the gradient-reversal sign, the classifier and adversary losses by hand, the
confusion loss and its gradients by hand, the label_fraction mask, the trainer's labels path,
exact resume, and the recipe / data errors."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open
from support import REPO, tiny_tree
from torch import nn

from audiovae.errors import AudioVAEError, RecipeError
from audiovae.objectives import get_objective
from audiovae.objectives.reversal import GradientReversal, reverse_gradient
from audiovae.objectives.subspace_vae import confusion_loss, standardise
from audiovae.recipe import recipe_from_dict
from audiovae.train.labels import hide_labels, label_codes, labelled_notes
from audiovae.train.trainer import Trainer

VOCAB = {"pitch": ["48", "50", "52"], "family": ["brass", "reed"]}
BLOCKS = {"pitch": 2, "timbre": 1}


class FixedPosterior(nn.Module):
    """A stand-in model: q(z|x) = N(mu, exp(logvar)) with mu a free parameter (the "encoder"),
    decoder output 0, and z = mu (no sampling noise), so every term can be worked by hand."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor, shape: tuple[int, int]) -> None:
        super().__init__()
        self.mu = nn.Parameter(mu.clone())
        self.logvar = logvar
        self.shape = shape

    def encode(self, x):
        return self.mu, self.logvar

    def decode(self, z):
        return torch.zeros(z.shape[0], *self.shape) + 0 * z.sum()

    @staticmethod
    def reparameterize(mu, logvar, generator=None):
        return mu


def _objective(hidden=0, **cfg):
    cls = get_objective("subspace_vae")
    config = cls.Config(supervise={"pitch": "pitch", "timbre": "family"}, hidden=hidden, **cfg)
    return cls(config, n_mels=2, dataset_size=10, latent_dim=3, subspaces=BLOCKS, label_vocab=VOCAB)


def _set_linear(layer: nn.Linear, weight, bias) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
        layer.bias.copy_(torch.as_tensor(bias))


def _ce(logits: np.ndarray, y: int) -> float:
    """Cross-entropy -log softmax(logits)[y], written out."""
    return math.log(sum(math.exp(v) for v in logits)) - logits[y]


def test_reversal_is_identity_forward_and_negates_the_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(4, 3)
    y = reverse_gradient(x, 0.5)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad, -0.5 * w)
    x.grad = None
    (GradientReversal(2.0)(x) * w).sum().backward()
    torch.testing.assert_close(x.grad, -2.0 * w)
    with pytest.raises(ValueError, match=">= 0"):
        reverse_gradient(x, -1.0)


def test_classifier_and_adversary_losses_by_hand():
    mu = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [-1.0, 1.0, 0.0], [0.0, 0.5, 1.0]])
    logvar = torch.full((4, 3), -0.5)
    x = torch.full((4, 2, 2), 0.3)
    labels = {"pitch": torch.tensor([0, 2, -1, 1]), "family": torch.tensor([1, -1, 0, 0])}
    obj = _objective(beta=2.0, classifier_weight=3.0, adversary_weight=0.5, scale=0.5)
    cls_p = [[1.0, -1.0], [0.5, 0.5], [-2.0, 1.0]]  # pitch classifier: pitch block (2 dims)
    adv_p = [[2.0], [-1.0], [0.5]]  # pitch adversary: reads the timbre block (1 dim)
    cls_t = [[1.5], [-0.5]]  # family classifier: timbre block
    adv_t = [[0.3, -0.7], [-1.0, 0.2]]  # family adversary: reads the pitch block
    _set_linear(obj.classifiers["pitch"], cls_p, [0.1, 0.0, -0.1])
    _set_linear(obj.adversaries["pitch"], adv_p, [0.0, 0.2, 0.0])
    _set_linear(obj.classifiers["timbre"], cls_t, [0.0, 0.3])
    _set_linear(obj.adversaries["timbre"], adv_t, [0.1, -0.1])
    out = obj(FixedPosterior(mu, logvar, (2, 2)), x, step=0, labels=labels)

    m, lv = mu.numpy().astype(float), logvar.numpy().astype(float)

    def mean_ce(w, b, feats, ys):
        vals = [_ce(np.array(w) @ f + np.array(b), y) for f, y in zip(feats, ys, strict=True)]
        return sum(vals) / len(vals)

    rows_p = [0, 1, 3]  # pitch known on notes 0, 1, 3
    rows_t = [0, 2, 3]  # family known on notes 0, 2, 3
    want = {
        "cls_pitch": mean_ce(cls_p, [0.1, 0.0, -0.1], m[rows_p, :2], [0, 2, 1]),
        "adv_pitch": mean_ce(adv_p, [0.0, 0.2, 0.0], m[rows_p, 2:], [0, 2, 1]),
        "cls_timbre": mean_ce(cls_t, [0.0, 0.3], m[rows_t, 2:], [1, 0, 0]),
        "adv_timbre": mean_ce(adv_t, [0.1, -0.1], m[rows_t, :2], [1, 0, 0]),
    }
    for key, value in want.items():
        assert out.terms[key].item() == pytest.approx(value, rel=1e-5), key
    recon = (0.5 * (0.3 / 0.5) ** 2 + math.log(0.5) + 0.5 * math.log(2 * math.pi)) * 4
    kl = (0.5 * (m**2 + np.exp(lv) - 1 - lv)).sum(1).mean()
    assert out.terms["recon"].item() == pytest.approx(recon, rel=1e-5)
    assert out.terms["kl"].item() == pytest.approx(kl, rel=1e-5)
    total = recon + 2.0 * kl + 3.0 * (want["cls_pitch"] + want["cls_timbre"])
    total += 0.5 * (want["adv_pitch"] + want["adv_timbre"])
    assert out.loss.item() == pytest.approx(total, rel=1e-5)


def test_adversary_learns_while_the_encoder_gets_its_gradient_negated():
    """The adversary (pitch from the timbre block) descends its loss; the encoder's gradient on
    that path is the exact negation of the plain cross-entropy gradient, worked by hand."""
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(6, 3, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    labels = {"pitch": y, "family": torch.full((6,), -1)}
    obj = _objective(classifier_weight=0.0, adversary_weight=1.0)
    w = torch.tensor([[1.0], [-0.5], [0.25]])
    b = torch.tensor([0.0, 0.1, -0.1])
    _set_linear(obj.adversaries["pitch"], w, b)
    model = FixedPosterior(mu, torch.zeros(6, 3), (2, 2))
    x = torch.zeros(6, 2, 2)
    out = obj(model, x, step=0, labels=labels)
    out.terms["adv_pitch"].backward()
    # d CE_mean / d timbre feature = sum_k (softmax_k - onehot_k) w_k / n, by hand
    p = torch.softmax(mu[:, 2:] @ w.T + b, dim=1)
    onehot = nn.functional.one_hot(y, 3).float()
    plain = ((p - onehot) @ w) / 6
    torch.testing.assert_close(model.mu.grad[:, 2:], -plain)  # the encoder: reversed
    assert torch.equal(model.mu.grad[:, :2], torch.zeros(6, 2))  # pitch block: not on this path
    torch.testing.assert_close(obj.adversaries["pitch"].weight.grad, (p - onehot).T @ mu[:, 2:] / 6)

    # one optimiser over both players: the adversary's loss falls with the encoder frozen ...
    adv_params = list(obj.adversaries["pitch"].parameters())
    opt = torch.optim.SGD(adv_params, lr=0.5)
    first = None
    for _ in range(50):
        loss = obj(model, x, step=0, labels=labels).terms["adv_pitch"]
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        model.mu.grad = None
        loss.backward()
        opt.step()
    trained = float(obj(model, x, step=0, labels=labels).terms["adv_pitch"])
    assert trained < first - 0.1
    # ... and a step of the encoder along its (reversed) gradient raises it
    model.mu.grad = None
    obj(model, x, step=0, labels=labels).terms["adv_pitch"].backward()
    with torch.no_grad():
        model.mu -= 0.5 * model.mu.grad
    assert float(obj(model, x, step=0, labels=labels).terms["adv_pitch"]) > trained


def _log_softmax(logits) -> list[float]:
    """log softmax, written out: l_k - log sum_j exp(l_j)."""
    norm = math.log(sum(math.exp(v) for v in logits))
    return [v - norm for v in logits]


def test_confusion_loss_is_cross_entropy_against_uniform_by_hand():
    logits = [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [-1.0, 4.0, 0.5]]
    want = [-sum(_log_softmax(row)) / 3 for row in logits]
    got = confusion_loss(torch.tensor(logits, dtype=torch.float64))
    assert got.tolist() == pytest.approx(want, rel=1e-12)
    assert want[1] == pytest.approx(math.log(3))  # uniform: the minimum, log K
    assert min(want[0], want[2]) > math.log(3)
    # KL(U || p) + log K, by its definition
    kl = sum((1 / 3) * (math.log(1 / 3) - lp) for lp in _log_softmax(logits[2]))
    assert want[2] == pytest.approx(kl + math.log(3), rel=1e-12)


def test_confusion_gradient_pushes_logits_towards_uniform():
    logits = torch.tensor([[2.0, -1.0, 0.5, 0.0]], dtype=torch.float64, requires_grad=True)
    confusion_loss(logits).sum().backward()
    exps = [math.exp(v) for v in (2.0, -1.0, 0.5, 0.0)]
    want = [e / sum(exps) - 0.25 for e in exps]  # softmax - 1/K
    assert logits.grad[0].tolist() == pytest.approx(want, rel=1e-12)
    # descending it lowers the most likely class and raises the least likely one, and the
    # prediction moves towards uniform (its KL(U || p) falls step after step)
    assert logits.grad[0, 0] > 0 > logits.grad[0, 1]
    kls = []
    x = logits.detach().clone()
    for _ in range(20):
        x.requires_grad_(True)
        loss = confusion_loss(x).sum()
        (grad,) = torch.autograd.grad(loss, x)
        kls.append(float(loss.detach()) - math.log(4))
        x = (x - 2.0 * grad).detach()
    assert all(b < a for a, b in zip(kls, kls[1:], strict=False)) and kls[-1] < 0.05 * kls[0]


def test_confusion_mode_trains_the_adversary_on_plain_ce_and_confuses_the_encoder():
    """adversary_loss: confusion, by hand on a linear adversary (pitch from the timbre block):
    the adversary's gradient is that of plain CE and never reaches the encoder; the encoder's
    gradient is scale * w * (softmax - 1/K) W / n over every note (the confusion term needs no
    label) and never reaches the adversary."""
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(6, 3, generator=g)
    y = torch.tensor([0, 1, 2, 0, -1, 2])  # note 4 unlabelled: in the confusion term only
    labels = {"pitch": y, "family": torch.full((6,), -1)}
    obj = _objective(classifier_weight=0.0, adversary_weight=2.0, adversary_loss="confusion",
                     adversary_warmup_steps=100)  # fmt: skip
    w = torch.tensor([[1.0], [-0.5], [0.25]])
    b = torch.tensor([0.0, 0.1, -0.1])
    _set_linear(obj.adversaries["pitch"], w, b)
    # the family adversary predicts uniformly (zero weights): confusion log 2, no gradient
    _set_linear(obj.adversaries["timbre"], torch.zeros(2, 2), torch.zeros(2))
    model = FixedPosterior(mu, torch.zeros(6, 3), (2, 2))
    x = torch.zeros(6, 2, 2)
    out = obj(model, x, step=50, labels=labels)  # scale 0.5
    rows = [0, 1, 2, 3, 5]
    logits = (mu[:, 2:].double() @ w.T.double() + b.double()).tolist()
    conf = sum(-sum(_log_softmax(r)) / 3 for r in logits) / 6
    ce = sum(-_log_softmax(logits[i])[int(y[i])] for i in rows) / 5
    assert out.terms["conf_pitch"].item() == pytest.approx(conf, rel=1e-5)
    assert out.terms["adv_pitch"].item() == pytest.approx(ce, rel=1e-5)
    base = out.terms["recon"] + out.terms["kl"]
    assert out.terms["conf_timbre"].item() == pytest.approx(math.log(2), rel=1e-6)
    want_loss = float(base.detach()) + 2.0 * (ce + 0.5 * conf) + 2.0 * 0.5 * math.log(2)
    assert out.loss.item() == pytest.approx(want_loss, rel=1e-5)

    # the adversary's own update: plain CE, and the encoder does not move
    out.terms["adv_pitch"].backward()
    assert model.mu.grad is None or not model.mu.grad.any()
    p = torch.softmax(mu[:, 2:] @ w.T + b, dim=1)
    onehot = nn.functional.one_hot(y.clamp_min(0), 3).float()
    known = (y >= 0).float()[:, None]
    torch.testing.assert_close(
        obj.adversaries["pitch"].weight.grad, ((p - onehot) * known).T @ mu[:, 2:] / 5
    )
    # the encoder's side: through the adversary held fixed, towards its uniform prediction
    obj.zero_grad()
    model.mu.grad = None
    obj(model, x, step=50, labels=labels).loss.backward()
    want = 2.0 * 0.5 * ((p - 1 / 3) @ w) / 6 + mu[:, 2:] / 6  # + d KL / d mu
    torch.testing.assert_close(model.mu.grad[:, 2:], want)
    torch.testing.assert_close(model.mu.grad[:, :2], mu[:, :2] / 6)  # pitch block: KL only
    torch.testing.assert_close(  # the whole loss: the adversary sees only its CE (times w)
        obj.adversaries["pitch"].weight.grad, 2.0 * ((p - onehot) * known).T @ mu[:, 2:] / 5
    )
    # a step of the encoder along its gradient makes the adversary less certain
    before = float(out.terms["conf_pitch"].detach())
    with torch.no_grad():
        model.mu -= 1.0 * model.mu.grad
    assert float(obj(model, x, step=50, labels=labels).terms["conf_pitch"].detach()) < before
    with pytest.raises(ValueError, match="adversary_loss"):
        _objective(adversary_loss="maximise")


def test_reversal_scale_ramps_and_no_labels_means_beta_vae():
    obj = _objective(adversary_warmup_steps=100)
    assert [obj.reversal_scale(s) for s in (0, 50, 100, 500)] == [0.0, 0.5, 1.0, 1.0]
    model = FixedPosterior(torch.ones(2, 3), torch.zeros(2, 3), (2, 2))
    out = obj(model, torch.zeros(2, 2, 2), step=0)
    assert out.terms["cls_pitch"].item() == 0 and out.terms["adv_timbre"].item() == 0
    assert out.loss.item() == pytest.approx((out.terms["recon"] + out.terms["kl"]).item())


def test_label_fraction_masks_exactly_and_deterministically():
    ids = [f"note-{i:04d}" for i in range(1000)]
    for fraction in (1.0, 0.5, 0.1, 0.013):
        mask = labelled_notes(ids, fraction, seed=3)
        assert mask.sum() == round(fraction * 1000)
        assert np.array_equal(mask, labelled_notes(ids, fraction, seed=3))
    tenth = labelled_notes(ids, 0.1, seed=3)
    assert not np.array_equal(tenth, labelled_notes(ids, 0.1, seed=4))
    perm = np.random.default_rng(0).permutation(1000)  # a note's fate follows its id
    assert np.array_equal(labelled_notes([ids[i] for i in perm], 0.1, seed=3), tenth[perm])
    assert labelled_notes(ids[:3], 0.01, seed=0).sum() == 1  # at least one note
    assert label_codes(["48", "50"], [50, 48.0, "49"]).tolist() == [1, 0, -1]


def _tree(cache_dir, **train):
    tree = tiny_tree(cache_dir, **train)
    tree["model"] = {"subspaces": {"pitch": 4, "timbre": 12}, "channels": [16, 32, 64]}
    tree["objective"] = {
        "name": "subspace_vae", "scale": 0.3, "label_fraction": 0.25,
        "supervise": {"pitch": "pitch", "timbre": "instrument_family_str"},
    }  # fmt: skip
    return tree


def _params(path):
    with safe_open(str(path), "pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys() if k.startswith(("model.", "objective."))}


def test_trainer_hands_masked_labels_and_resumes_exactly(tmp_path, cache_dir):
    recipe = recipe_from_dict(_tree(cache_dir, max_steps=12, checkpoint_every=1000,
                                    validate_every=6))  # fmt: skip
    part = Trainer(recipe, tmp_path / "part")
    rows = part.data.train_indices
    hidden = part.labels.hidden
    assert hidden[rows].sum() == rows.size - round(0.25 * rows.size) and not hidden.all()
    seen = []
    forward = part.objective.forward
    part.objective.forward = lambda *a, **k: (seen.append(k["labels"]), forward(*a, **k))[1]
    part.start_run_folder()
    for _ in range(5):  # stop mid-epoch
        part.train_step()
    idx = part.batch_indices(4)
    truth = [part.data.train.labels["pitch"][i] for i in idx]
    vocab = part.label_vocab["pitch"]
    want = [-1 if hidden[i] else vocab.index(str(v)) for i, v in zip(idx, truth, strict=True)]
    assert seen[-1]["pitch"].tolist() == want
    part.objective.forward = forward
    part.save()
    Trainer(recipe, tmp_path / "part", resume=True).fit()
    Trainer(recipe, tmp_path / "full").fit()
    full = _params(tmp_path / "full/checkpoints/last.safetensors")
    resumed = _params(tmp_path / "part/checkpoints/last.safetensors")
    assert full.keys() == resumed.keys() and any(k.startswith("objective.adv") for k in full)
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    manifest = (tmp_path / "full/manifest.json").read_text()
    assert '"subspaces": {\n      "pitch": 4' in manifest and '"label_vocab"' in manifest


def test_a_block_tied_to_a_label_the_data_lacks_is_a_one_line_error(tmp_path, cache_dir):
    tree = _tree(cache_dir, max_steps=2)
    tree["objective"]["supervise"] = {"pitch": "pitch", "timbre": "loudness"}
    with pytest.raises(AudioVAEError, match="the data has no label 'loudness'; it has: ") as err:
        Trainer(recipe_from_dict(tree), tmp_path / "run")
    assert "\n" not in str(err.value)


def test_two_processes_match_one_with_hidden_labels(tmp_path, cache_dir):
    """Under torchrun the labelled count is the global batch's, so 2 gloo processes with
    label_fraction 0.5 end where 1 process does (classifier and adversary heads included), with
    the confusion loss's detached adversary path under DDP."""
    tree = _tree(cache_dir, max_steps=6, checkpoint_every=6, num_threads=1)
    tree["objective"].update(label_fraction=0.5, adversary_loss="confusion")
    recipe = tmp_path / "sub.yaml"
    recipe.write_text(yaml.safe_dump(tree))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    for name, launcher in (("one", []), ("two", ["-m", "torch.distributed.run", "--standalone",
                                                 "--nproc_per_node=2"])):  # fmt: skip
        cmd = [sys.executable, *launcher, "-m", "audiovae", "train", str(recipe),
               "--out", str(tmp_path / name)]  # fmt: skip
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    one = _params(tmp_path / "one/checkpoints/last.safetensors")
    two = _params(tmp_path / "two/checkpoints/last.safetensors")
    assert any(k.startswith("objective.classifiers.") for k in one)
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-5, msg=k)


def test_pairs_share_the_adaptive_dims_by_hand():
    """Partners (rows 0, 1): per-dim KL(q1 || q2) = [0, 8, 0.125] with unit variances; the
    midpoint 4 marks dims 0 and 2 shared, which take the average of the two means."""
    mu = torch.tensor([[0.0, 0.0, 0.0], [0.0, 4.0, 0.5]])
    obj = _objective(pairs=True)
    model = FixedPosterior(mu, torch.zeros(2, 3), (2, 2))
    out = obj(model, torch.zeros(2, 2, 2), step=0)
    assert out.terms["shared_dims"].item() == 2
    # KL of the new posteriors N([0, 0, .25], 1) and N([0, 4, .25], 1): 0.5 * sum(mu^2)
    assert out.terms["kl"].item() == pytest.approx((0.5 * 0.0625 + 0.5 * (16 + 0.0625)) / 2)
    unpaired = _objective()(model, torch.zeros(2, 2, 2), step=0)
    assert "shared_dims" not in unpaired.terms
    assert unpaired.terms["kl"].item() == pytest.approx((0.5 * (16 + 0.25)) / 2)


def test_pairs_need_the_pairs_switch_and_train(tmp_path, cache_dir):
    tree = _tree(cache_dir, max_steps=3, checkpoint_every=3, validate_every=3)
    tree["data"]["pairs"] = {"share": ["instrument", "velocity"], "unpaired": "skip"}
    with pytest.raises(RecipeError, match="data.pairs is set but objective.name 'subspace_vae'"):
        recipe_from_dict(tree)
    tree["objective"]["pairs"] = True
    summary = Trainer(recipe_from_dict(tree), tmp_path / "run").fit()
    assert summary["steps"] == 3 and "shared_dims" in summary["valid"]


class RecordingDecoder(FixedPosterior):
    """FixedPosterior whose decoder remembers the latents it was given."""

    def decode(self, z):
        self.seen = z.detach().clone()
        return super().decode(z)


def test_pair_swap_exchanges_only_the_blocks_whose_label_partners_share():
    """Pair 0 shares the family (timbre block, dim 2), pair 1 the pitch (block dims 0-1), pair 2
    the family with one pitch hidden (pitch not exchanged): each note is decoded from its
    partner's sample of every shared block and its own of the rest."""
    mu = torch.arange(18, dtype=torch.float32).reshape(6, 3)
    labels = {
        "pitch": torch.tensor([0, 1, 2, 2, 0, -1]),
        "family": torch.tensor([1, 1, 0, 1, 1, 1]),
    }
    model = RecordingDecoder(mu, torch.zeros(6, 3), (2, 2))
    out = _objective(pairs=True, pair_merge="swap")(
        model, torch.zeros(6, 2, 2), step=0, labels=labels
    )
    expected = torch.tensor([
        [0, 1, 5], [3, 4, 2],          # pair 0: timbre (dim 2) swapped
        [9, 10, 8], [6, 7, 11],        # pair 1: pitch (dims 0, 1) swapped
        [12, 13, 17], [15, 16, 14],    # pair 2: pitch hidden on note 5; family shared: timbre
    ], dtype=torch.float32)  # fmt: skip
    torch.testing.assert_close(model.seen, expected)
    assert out.terms["shared_dims"].item() == pytest.approx((1 + 2 + 1) / 3)
    # the KL is taken on each note's own posterior N(mu, 1): 0.5 * sum(mu^2) per note
    assert out.terms["kl"].item() == pytest.approx(0.5 * (mu**2).sum().item() / 6)


def test_pair_average_takes_the_mean_posterior_on_shared_blocks():
    """Pair (0, 1) shares pitch: dims 0-1 take the average means (variances averaged in variance
    space, log var = log((e^0 + e^2) / 2)); dim 2 keeps each note's own."""
    mu = torch.tensor([[0.0, 2.0, 1.0], [4.0, 6.0, 3.0]])
    logvar = torch.tensor([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])
    labels = {"pitch": torch.tensor([2, 2]), "family": torch.tensor([0, 1])}
    model = RecordingDecoder(mu, logvar, (2, 2))
    out = _objective(pairs=True, pair_merge="average")(
        model, torch.zeros(2, 2, 2), step=0, labels=labels
    )
    torch.testing.assert_close(model.seen, torch.tensor([[2.0, 4.0, 1.0], [2.0, 4.0, 3.0]]))
    v = (1 + math.e**2) / 2  # averaged variance on the shared dims

    def kl(m, var):  # KL(N(m, var) || N(0, 1)), by hand
        return 0.5 * (var + m * m - 1 - math.log(var))

    by_hand = kl(2, v) + kl(4, v) + kl(1, 1) + kl(2, v) + kl(4, v) + kl(3, math.e**2)
    assert out.terms["kl"].item() == pytest.approx(by_hand / 2, rel=1e-5)


def test_hidden_labels_keep_what_the_pair_says():
    """label_fraction hides values; with pairs, a hidden note whose partner has the same value is
    marked SAME_AS_PARTNER (-2), otherwise -1; known values stay; unpaired batches just hide."""
    codes = np.array([3, 3, 4, 5, 6, 6, 7, 7])
    hidden = np.array([True, True, True, False, False, True, False, False])
    assert hide_labels(codes, hidden, paired=True).tolist() == [-2, -2, -1, 5, 6, -2, 7, 7]
    assert hide_labels(codes, hidden, paired=False).tolist() == [-1, -1, -1, 5, 6, -1, 7, 7]
    assert codes.tolist() == [3, 3, 4, 5, 6, 6, 7, 7]  # the input is not modified


def test_pair_swap_acts_on_hidden_labels_the_pair_shares():
    """Pair 0: both pitches hidden but shared (-2, -2); pair 1: one family hidden but shared
    (-2 beside a known 1): both blocks swap; the classifiers see no label there."""
    mu = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    labels = {"pitch": torch.tensor([-2, -2, 0, 1]), "family": torch.tensor([0, 1, -2, 1])}
    model = RecordingDecoder(mu, torch.zeros(4, 3), (2, 2))
    obj = _objective(pairs=True, pair_merge="swap")
    out = obj(model, torch.zeros(4, 2, 2), step=0, labels=labels)
    expected = torch.tensor([[3, 4, 2], [0, 1, 5], [6, 7, 11], [9, 10, 8]], dtype=torch.float32)
    torch.testing.assert_close(model.seen, expected)
    # cls_pitch: the mean CE over the 2 notes with a known pitch only (rows 2, 3; own z)
    logits = obj.classifiers["pitch"](mu[2:, :2]).detach().numpy()
    by_hand = (_ce(logits[0], 0) + _ce(logits[1], 1)) / 2
    assert out.terms["cls_pitch"].item() == pytest.approx(by_hand, rel=1e-5)


def test_standardised_adversary_input_by_hand():
    """standardise: (t - mean) / std over the batch (unbiased std, as numpy's ddof=1), the
    statistics held fixed, so d sum(out) / d t = 1 / std per column."""
    t = torch.tensor([[1.0, 10.0], [2.0, 10.5], [4.0, 9.0], [5.0, 10.5]], requires_grad=True)
    out = standardise(t)
    a = t.detach().numpy()
    want = (a - a.mean(0)) / a.std(0, ddof=1)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(
        t.grad.numpy(), np.broadcast_to(1 / a.std(0, ddof=1), a.shape), rtol=1e-6
    )
