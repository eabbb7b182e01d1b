"""`audiovae compare`: grouping by seed, mean and sample sd against hand-worked numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from audiovae.cli import main
from audiovae.errors import AudioVAEError
from audiovae.metrics.summary import (
    group_name,
    markdown_table,
    mean_sd,
    mig_of,
    read_results,
    summarise,
)


def fake_result(within: float, kept: float, leak: float, mig_pitch: float, mse: float,
                listening: bool = True) -> dict:  # fmt: skip
    """An evaluate result with the fields the table reads (factors: velocity skipped by MIG)."""
    result = {
        "reconstruction": {"logmel_mse": mse},
        "disentanglement": {
            "factors": ["instrument", "velocity", "pitch"],
            "mig": 0.1,
            # velocity (column 1) skipped: per_factor holds columns 0 and 2 only
            "mig_details": {"factors": [0, 2], "per_factor": [0.5, mig_pitch]},
        },
        "listening": {},
    }
    if listening:
        result["listening"] = {
            "swap": {
                "within_50_cents": within,
                "median_abs_cents": 10.0,
                "family_kept": kept,
                "instrument_kept": kept / 2,
                "instrument_chance": 0.125,
            },
            "ceiling": {
                "within_50_cents": 1.0,
                "median_abs_cents": 0.0,
                "family_kept": 0.8,
                "instrument_kept": 0.96,
            },
            "leakage": {
                "pitch_from_timbre": {"accuracy": leak, "chance": 0.04},
                "family_from_pitch": {"accuracy": 0.13, "chance": 0.125},
            },
        }
    return result


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("runs/beta_vae-0.eval.json", "beta_vae"),
        ("runs/beta_vae-12.eval.json", "beta_vae"),
        ("runs/t8_s2.eval.json", "t8"),
        ("runs/sub-spaces.eval.json", "sub-spaces"),
        ("runs/beta_vae-2/evaluate-notes.json", "beta_vae"),
        ("out/model.json", "model"),
        ("sw/objective.beta-4_train.seed-1/evaluate.json", "objective.beta-4"),
    ],
)
def test_group_name_strips_the_seed(path, group):
    assert group_name(path) == group


def test_mean_sd_is_the_sample_sd():
    # 0.98, 0.99, 1.00: mean 0.99, sd sqrt(((-.01)^2 + 0 + .01^2) / 2) = 0.01
    mean, sd, n = mean_sd([0.98, None, 0.99, 1.00])
    assert (round(mean, 12), round(sd, 12), n) == (0.99, 0.01, 3)
    assert mean_sd([0.5]) == (0.5, None, 1)
    assert mean_sd([None, float("nan")]) == (None, None, 0)


def test_mig_of_maps_skipped_factors():
    dis = fake_result(1, 1, 0, 0.25, 0)["disentanglement"]
    assert mig_of(dis, "pitch") == 0.25  # column 2 is per_factor[1]
    assert mig_of(dis, "instrument") == 0.5
    assert mig_of(dis, "velocity") is None  # skipped
    assert mig_of(dis, "family") is None


def write(folder: Path, name: str, result: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(result))
    return path


def test_summary_rows_and_table(tmp_path):
    paths = [
        write(tmp_path, "sub-0.eval.json", fake_result(0.98, 0.90, 0.05, 0.010, 0.60)),
        write(tmp_path, "sub-1.eval.json", fake_result(1.00, 0.94, 0.07, 0.030, 0.62)),
        write(tmp_path, "vae-0.eval.json", fake_result(0.31, 0.27, 0.63, 0.018, 0.53)),
        write(tmp_path, "vae-1.eval.json", fake_result(0, 0, 0, 0.02, 0.55, listening=False)),
    ]
    rows = summarise(read_results(paths))
    assert [r["model"] for r in rows] == ["sub", "vae"]
    sub, vae = rows
    assert sub["runs"] == 2 and vae["runs"] == 2
    # within: 98% and 100% -> 99% ± sqrt(2) (sample sd of two values d apart is d / sqrt(2))
    mean, sd, n = sub["within"]
    assert (round(mean, 9), round(sd, 9), n) == (99.0, round(2 / 2**0.5, 9), 2)
    assert sub["mig_pitch"][0] == pytest.approx(0.02)
    # the run without a listening test counts for MSE and MIG, not for the swap columns
    assert vae["within"] == (31.0, None, 1)
    assert vae["mse"][2] == 2 and vae["mse"][0] == pytest.approx(0.54)
    table = markdown_table(rows)
    lines = table.splitlines()
    assert "pitch from timbre dims (chance 4%)" in lines[0]
    assert "family from pitch dims (chance 12%)" in lines[0]  # 12.5 printed as 12
    assert "instrument kept (chance 12%)" in lines[0]
    # instrument kept: 45% and 47% -> 46% ± 1.41
    assert lines[2].startswith("| sub | 2 | 99% ± 1% | 10 ± 0 | 92% ± 3% | 46% ± 1% | 6% ± 1% |")
    assert lines[3].startswith("| vae | 2 | 31% (n=1) | 10 (n=1) | 27% (n=1) | 14% (n=1) |")
    assert "| 0.540 ± 0.014 |" in lines[3]  # MSE from both files
    assert lines[-1].startswith(
        "| ceiling: B resynthesised, no model | | 100% ± 0% | 0 ± 0 | 80% ± 0% | 96% ± 0% |"
    )


def test_rows_on_different_data_get_their_own_ceilings(tmp_path):
    a, b = fake_result(0.9, 0.9, 0.05, 0.01, 0.6), fake_result(0.5, 0.3, 0.3, 0.01, 0.9)
    a["data"], b["data"] = "/x/notes", "/y/timgm"
    b["listening"]["ceiling"]["within_50_cents"] = 0.62
    paths = [write(tmp_path, "sub-0.eval.json", a), write(tmp_path, "sf_sub-0.eval.json", b)]
    lines = markdown_table(summarise(read_results(paths))).splitlines()
    assert "(chance" not in lines[0]  # chance differs between data sets
    assert lines[-2].startswith("| ceiling on notes: B resynthesised, no model | | 100% |")
    assert lines[-1].startswith("| ceiling on timgm: B resynthesised, no model | | 62% |")


def test_compare_command(tmp_path):
    paths = [write(tmp_path, f"m-{s}.eval.json", fake_result(0.5 + s / 10, 0.5, 0.1, 0.1, 0.5))
             for s in range(3)]  # fmt: skip
    out = tmp_path / "rows.json"
    res = CliRunner().invoke(main, ["compare", *map(str, paths), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "| m | 3 | 60% ± 10% |" in res.output
    assert f"m: {paths[0]}, {paths[1]}, {paths[2]}" in res.output  # the grouping, on stderr
    within = json.loads(out.read_text())[0]["within"]
    assert within[:2] == [pytest.approx(60.0), pytest.approx(10.0)]


def test_compare_names_a_file_that_is_not_a_result(tmp_path):
    bad = write(tmp_path, "notes.json", {"hello": 1})
    with pytest.raises(AudioVAEError, match="notes.json: not an `audiovae evaluate` result"):
        read_results([bad])
    res = CliRunner().invoke(main, ["compare", str(bad)])
    assert res.exit_code != 0
    assert "notes.json" in res.output and "Traceback" not in res.output
