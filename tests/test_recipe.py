"""Recipe validation: one-line errors that name the key and what was expected."""

from pathlib import Path

import pytest
import yaml

from audiovae.errors import RecipeError
from audiovae.recipe import load_recipe, recipe_from_dict

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize("name", ["synthetic.yaml", "nsynth.yaml"])
def test_shipped_recipes_validate(name):
    recipe = load_recipe(RECIPES / name)
    assert recipe.to_dict()["objective"]["name"] == "beta_vae"


def test_synthetic_recipe_matches_generator_defaults():
    from audiovae.audio.synth import SynthConfig
    from audiovae.data.sources import synth_config

    recipe = load_recipe(RECIPES / "synthetic.yaml")
    ours = synth_config(recipe.data)
    assert ours == synth_config(recipe_from_dict({}).data), (
        "recipes/synthetic.yaml and `audiovae data synth` (the schema defaults) disagree"
    )
    assert ours == SynthConfig(sample_rate=16000, seconds=1.008), "generator defaults drifted"


@pytest.mark.parametrize(
    "tree,expected",
    [
        ({"model": {"latnt_dim": 3}}, "unknown key 'model.latnt_dim'; valid keys here: latent_dim"),
        (
            {"trian": {}},
            "unknown key 'trian'; valid keys here: data, features, model, objective, train",
        ),
        ({"train": {"lr": "fast"}}, "train.lr: Input should be a valid number"),
        ({"train": {"batch_size": 0}}, "train.batch_size: Input should be greater than 0"),
        ({"objective": {"name": "vae9"}}, "objective.name 'vae9' is unknown; available: "),
        ({"objective": {"name": "beta_vae", "bta": 2}}, "unknown key 'objective.bta' for beta_vae"),
        (
            {"objective": {"name": "beta_vae", "beta": -1}},
            "objective.beta: Input should be greater",
        ),
        ({"data": {"kind": "nsynth"}}, "data.kind 'nsynth' needs data.train"),
        (
            {"data": {"kind": "mp3s"}},
            "data.kind: Input should be 'synthetic', 'nsynth' or 'folder'",
        ),
    ],
)
def test_errors_are_one_clear_line(tree, expected):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(tree, "r.yaml")
    message = str(info.value)
    assert expected in message
    assert message.startswith("r.yaml: ") and "\n" not in message


def test_overrides_are_parsed_as_yaml(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"train": {"max_steps": 10}}))
    recipe = load_recipe(path, ["train.max_steps=20", "train.lr=3e-4", "model.channels=[8, 16]",
                                "data.valid=some/dir", "features.f_max=null"])  # fmt: skip
    assert recipe.train.max_steps == 20 and recipe.train.lr == pytest.approx(3e-4)
    assert recipe.model.channels == [8, 16] and recipe.data.valid == "some/dir"
    assert recipe.features.f_max is None


def test_bad_override_and_files(tmp_path):
    with pytest.raises(RecipeError, match="expected KEY=VALUE"):
        load_recipe(RECIPES / "synthetic.yaml", ["train.max_steps"])
    with pytest.raises(RecipeError, match="unknown key 'train.max_stepz'"):
        load_recipe(RECIPES / "synthetic.yaml", ["train.max_stepz=3"])
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(RecipeError, match="invalid YAML at line"):
        load_recipe(bad)


@pytest.mark.parametrize("name", ["ada_gvae.yaml", "ada_ml_vae.yaml"])
def test_paired_recipes_validate(name):
    recipe = load_recipe(RECIPES / name)
    assert recipe.data.pairs.share == "random"
    assert recipe.to_dict()["data"]["pairs"]["factors"] == ["instrument", "pitch", "velocity"]


@pytest.mark.parametrize(
    "tree,expected",
    [
        (
            {"objective": {"name": "ada_gvae"}},
            "objective.name 'ada_gvae' learns from pairs of notes and needs data.pairs",
        ),
        (
            {"data": {"pairs": {"share": ["pitch"]}}},
            "data.pairs is set but objective.name 'beta_vae' does not learn from pairs; "
            "remove data.pairs or choose one of: ada_gvae, ada_ml_vae",
        ),
        (
            {"data": {"pairs": {"share": "pitch"}}, "objective": {"name": "ada_gvae"}},
            "data.pairs.share: expected a non-empty list of label names or 'random'",
        ),
        (
            {"data": {"pairs": {"share": ["timbre"]}}, "objective": {"name": "ada_gvae"}},
            "data.pairs: share label 'timbre' is not in data.pairs.factors",
        ),
        (
            {"data": {"pairs": {"kinds": [{"share": ["pitch"], "wieght": 2}]}}},
            "unknown key 'data.pairs.kinds.0.wieght'; valid keys here: share, weight",
        ),
        (
            {"data": {"pairs": {"share": ["pitch"], "unpaired": "drop"}}},
            "data.pairs.unpaired: Input should be 'error' or 'skip'",
        ),
        (
            {"data": {"pairs": {"share": ["instrument", "pitch", "velocity"]}}},
            "leaves no label of data.pairs.factors to differ",
        ),
    ],
)
def test_pair_recipe_errors_are_one_line(tree, expected):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(tree, "r.yaml")
    message = str(info.value)
    assert expected in message and message.startswith("r.yaml: ") and "\n" not in message


def test_the_training_package_re_exports_the_schema():
    import audiovae.recipe as neutral
    import audiovae.train.recipe as old_home

    for name in old_home.__all__:
        assert getattr(old_home, name) is getattr(neutral, name), name


def test_one_factor_ada_recipe_pairs_change_exactly_one_factor(tmp_path):
    """recipes/ada_gvae_one_factor.yaml: four kinds, each sharing all factors but one (a
    different one each), and it trains on the synthetic notes (whose labels include vibrato)."""
    from audiovae.train.trainer import train

    recipe = load_recipe(RECIPES / "ada_gvae_one_factor.yaml")
    pairs = recipe.to_dict()["data"]["pairs"]
    factors = pairs["factors"]
    assert factors == ["instrument", "pitch", "velocity", "vibrato"]
    differs = [set(factors) - set(kind["share"]) for kind in pairs["kinds"]]
    assert sorted(map(sorted, differs)) == [[f] for f in sorted(factors)]
    sets = ["data.synthetic.pitches=[48, 50]", "data.synthetic.families=[guitar, reed]",
            "data.synthetic.velocities=[50, 100]", "model.channels=[8, 16]", "model.latent_dim=4",
            "train.max_steps=2", "train.batch_size=8", "train.progress=false",
            f"features.cache_dir={tmp_path}"]  # fmt: skip
    summary = train(load_recipe(RECIPES / "ada_gvae_one_factor.yaml", sets), tmp_path / "run")
    assert summary["steps"] == 2
