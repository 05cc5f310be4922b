"""The comparison scripts' statistics (scripts/comparelib.py): paired differences, the verdicts
they allow, and the rule that withholds a verdict while validation still rises."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import comparelib  # noqa: E402


def run(seed, accs):
    accs = np.asarray(accs, float)
    return {"seed": seed, "accuracy": float(accs.mean()), "accuracies": accs.tolist(),
            "ci95": float(1.96 * accs.std() / np.sqrt(len(accs)))}


def test_paired_difference_by_hand():
    """Seeds paired; the interval is the wider of the seed t-interval and the episode interval."""
    pytest.importorskip("scipy")
    from scipy import stats

    g = np.random.default_rng(0)
    base = [run(s, g.uniform(0.5, 0.7, 200)) for s in range(3)]
    other = [run(s, np.asarray(b["accuracies"]) + d + g.normal(0, 0.05, 200))
             for s, (b, d) in enumerate(zip(base, [0.04, 0.05, 0.045]))]
    p = comparelib.paired(base, list(reversed(other)))  # pairing by seed, not by order
    diffs = [100 * (o["accuracy"] - b["accuracy"]) for o, b in zip(other, base)]
    per_episode = np.concatenate([100 * (np.asarray(o["accuracies"]) - b["accuracies"]) for o, b in zip(other, base)])
    half = max(1.96 * per_episode.std() / np.sqrt(len(per_episode)),
               stats.t.ppf(0.975, 2) * np.std(diffs, ddof=1) / np.sqrt(3))
    assert p["diff"] == pytest.approx(np.mean(diffs))
    assert (p["low"], p["high"]) == pytest.approx((np.mean(diffs) - half, np.mean(diffs) + half))
    assert p["verdict"] == "better" and p["basis"] == "3 seed(s) x 200 test episodes"
    same = comparelib.paired(base, base)
    assert same["diff"] == 0 and same["verdict"] == "no clear difference"
    worse = comparelib.paired(other, base)
    assert worse["verdict"] == "worse"
    assert comparelib.paired(base, [run(9, [0.5] * 10)])["verdict"] == "no common seed"


def test_rising_curves_withhold_the_verdict():
    ci = 0.01  # validation half-width 1 point: rising means > 0.5 points
    flat = [(e, a, ci) for e, a in zip(range(100, 900, 100), [0.70, 0.72, 0.72, 0.715, 0.72, 0.718, 0.721, 0.719])]
    rising = [(e, a, ci) for e, a in zip(range(100, 900, 100), [0.60, 0.65, 0.68, 0.70, 0.71, 0.72, 0.74, 0.76])]
    assert comparelib.curve_state(flat)["rising"] is False
    state = comparelib.curve_state(rising)
    assert state["rising"] is True and state["gain"] == pytest.approx(4.0) and "still rising" in state["text"]
    assert comparelib.curve_state(flat[:2])["rising"] is None  # too few validations
    states = [comparelib.curve_state(flat), comparelib.curve_state(flat[:2])]
    assert comparelib.any_rising(states) is None and comparelib.any_rising(states[:1]) is False
    assert comparelib.judged("better", None, False).startswith("not decided (too few")
    assert comparelib.judged("better", False, False) == "better"
    assert comparelib.judged("no clear difference", True, False).startswith("not decided")
    assert comparelib.judged("worse", True, False).startswith("not decided")  # the method may catch up
    assert comparelib.judged("better", False, True).startswith("not decided")  # the baseline may catch up
    assert comparelib.judged("worse", False, True) == "worse (baseline still rising: an upper bound)"
    assert comparelib.judged("worse", True, True).startswith("not decided")
    assert comparelib.judged("helped", True, False) == "helped (still rising: a lower bound)"


def test_run_names_are_distinct_per_setting_and_seed():
    names = {comparelib.run_name(c, o, s) for c in ("glyphs_protonet", "glyphs_pretrain")
             for o in ([], ["a=1"], ["a=2"]) for s in (0, 1)}
    assert len(names) == 12
    assert comparelib.run_name("glyphs_protonet", [], 3) == "glyphs_protonet_plain_seed3"


def test_a_second_study_on_the_same_run_folder_is_refused(tmp_path):
    """Two studies (or a study and an orphaned worker of an earlier one) must never train one run
    folder at once: the folder's writer lock refuses the second."""
    from fewshot.runs.lock import RunBusyError, run_lock

    job = {"run_dir": str(tmp_path / "run"), "config": "glyphs_protonet", "overrides": [], "seed": 0,
           "threads": 1, "device": "cpu"}
    with run_lock(tmp_path / "run", "another study"):
        with pytest.raises(RunBusyError, match="another study"):
            comparelib.train_once(job)
    (tmp_path / "run" / "train.json").write_text('{"done": true}')
    assert comparelib.train_once(job) == {"done": True}  # a finished run is read, never retrained


def test_compare_claims_runs_filter_keeps_baselines(capsys):
    """--runs trains a subset; leaving out a row's baseline is refused with the flag to fix it."""
    import compare_claims

    with pytest.raises(SystemExit):
        compare_claims.main(["--studies", "losses", "--runs", "ICNN", "--episodes", "1"])
    err = capsys.readouterr().err
    assert "'ProtoNet', the baseline of 'ICNN'" in err and "--runs" in err
    with pytest.raises(SystemExit):  # a baseline alone compares nothing
        compare_claims.main(["--studies", "matchingnet", "--runs", "ProtoNet", "--episodes", "1"])
    assert "leaves no comparison" in capsys.readouterr().err


def test_crossdomain_columns_test_the_domain_and_shot_they_name():
    """Each cross-domain column is 5-way at the shot in its name, on the target in its name."""
    import compare_claims

    tests = compare_claims.STUDIES["crossdomain"]["tests"]
    assert list(tests) == ["Fashion-MNIST 1-shot", "Fashion-MNIST 5-shot", "digits 1-shot", "digits 5-shot"]
    for column, settings in tests.items():
        assert settings["n_way"] == 5 and settings["shots"] == [int(column[-6])]
        target = settings["target_data"]
        if column.startswith("Fashion"):
            assert target == {"name": "fashion_mnist", "split": "test"}
        else:  # the folder write_digits makes, filled in at run time
            assert target == {"name": "imagefolder", "root": "{digits}"}


def _legacy_run(folder, episodes, shot=1, seed=0):
    """A run folder of compare_interpolation's earlier layout: config.yaml + compare.json."""
    import yaml

    folder.mkdir(parents=True)
    every = episodes // 8
    config = {"train": {"k_shot": shot, "seed": seed, "episodes": episodes, "lr_step": episodes // 2,
                        "val_every": every, "ckpt_every": every, "val_episodes": 200}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "metrics.jsonl").write_text('{"kind": "val", "episode": 500, "val_acc": 0.5, "val_ci95": 0.01}\n')
    accs = [0.5, 0.7]
    (folder / "compare.json").write_text(json.dumps({"accuracy": 0.6, "ci95": 0.2, "episodes": 2, "accuracies": accs,
                                                     "best_val": 0.5, "train_seconds": 12.0}))


def test_interpolation_adopts_earlier_runs_only_with_the_same_settings(tmp_path):
    """A folder of the earlier layout is reused (its records converted) only when its config has the
    job's budget; another --episodes gets its own folder instead of the old run's numbers."""
    import argparse

    import compare_interpolation as ci

    _legacy_run(tmp_path / "glyphs_s_protonet_1shot_seed0", episodes=4000)

    def job(episodes):
        args = argparse.Namespace(episodes=episodes, validations=8, val_episodes=200, device="cpu", threads=1,
                                  test_episodes=1000, out=tmp_path)
        return ci.make_job("ProtoNet", 1, 0, args, [], "")

    other = job(8000)  # first, while the folder has only its old records: its config decides
    assert other["run_dir"] != str(tmp_path / "glyphs_s_protonet_1shot_seed0") and "seed0" in other["run_dir"]
    assert not (tmp_path / "glyphs_s_protonet_1shot_seed0" / "train.json").exists()
    same = job(4000)
    assert same["run_dir"] == str(tmp_path / "glyphs_s_protonet_1shot_seed0")
    record = json.loads((tmp_path / "glyphs_s_protonet_1shot_seed0" / "train.json").read_text())
    assert record["train_seconds"] == 12.0 and record["curve"] == [[500, 0.5, 0.01]]
    test = json.loads((tmp_path / "glyphs_s_protonet_1shot_seed0" / "tests" / "test_5way_1shot.json").read_text())
    assert test["accuracies"] == [0.5, 0.7] and test["settings"] == {"shots": [1], "episodes": 1000}
    assert job(8000)["run_dir"] == other["run_dir"]  # and after the adoption too


def test_a_test_under_other_settings_is_kept_beside_the_first(tmp_path):
    first = {"shots": [1], "episodes": 1000}
    path = comparelib.test_path(tmp_path, "t", first)
    assert path.name == "t.json"
    comparelib.write_json(path, {"settings": first})
    assert comparelib.test_path(tmp_path, "t", first) == path  # same settings: reused
    other = comparelib.test_path(tmp_path, "t", {"shots": [1], "episodes": 500})
    assert other != path and other.name.startswith("t_")


def test_diag_rectification_reports_without_changing_the_result(tmp_path, capsys):
    """The diagnostic watches LaplacianShot's rectification: same accuracy as a plain evaluation,
    one row per target, and the method is left unpatched afterwards."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "fewshot"))
    import diag_rectification
    import tiny_run

    import fewshot.transductive.laplacianshot as lshot
    from fewshot.cli import main
    from fewshot.evaluation.run_eval import evaluate_run
    from fewshot.evaluation.transductive import TransductiveSpec

    config = tiny_run.write_config(tmp_path)
    assert main(["train", str(config), f"run.out_dir={tmp_path / 'runs'}", "run.name=r", "train.episodes=10"]) == 0
    run = tmp_path / "runs" / "r"
    original = lshot.softmax_rectify_prototypes
    capsys.readouterr()
    assert diag_rectification.main([str(run), "--episodes", "4", "--shot", "1", "--out", str(tmp_path / "d")]) == 0
    assert lshot.softmax_rectify_prototypes is original
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| own test split")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    plain = evaluate_run(run, n_way=5, shots=[1], episodes=4, progress=False, out_dir=tmp_path / "e",
                         transductive=TransductiveSpec(method="laplacianshot"))[0]
    assert float(cells[1]) == pytest.approx(100 * plain.mean, abs=0.006)
    assert 0.2 - 1e-6 <= float(cells[3]) <= 1 and 20 <= float(cells[5].rstrip("%")) <= 100


def test_a_summary_of_other_arguments_is_kept_beside_the_first(tmp_path):
    """A study's summary never replaces one of other arguments (nor one of the earlier layout that
    did not record them); the same arguments rewrite their own summary."""
    first = comparelib.write_summary(tmp_path, "claims", {"episodes": 3000, "seeds": [0]}, "first", [1])
    assert first == tmp_path / "claims.md" and first.read_text() == "first\n"
    assert json.loads((tmp_path / "claims.json").read_text()) == {"settings": {"episodes": 3000, "seeds": [0]},
                                                                  "records": [1]}
    again = comparelib.write_summary(tmp_path, "claims", {"episodes": 3000, "seeds": [0]}, "again", [2])
    assert again == first and first.read_text() == "again\n"
    other = comparelib.write_summary(tmp_path, "claims", {"episodes": 3000, "seeds": [0, 1, 2]}, "other", [3])
    assert other != first and other.name.startswith("claims_") and other.read_text() == "other\n"
    assert first.read_text() == "again\n"
    assert json.loads(other.with_suffix(".json").read_text())["records"] == [3]
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "summary.json").write_text("[1, 2]")  # the earlier layout: a bare list
    (legacy / "summary.md").write_text("old table\n")
    kept = comparelib.write_summary(legacy, "summary", {"episodes": 1}, "new", [])
    assert kept.name != "summary.md" and (legacy / "summary.md").read_text() == "old table\n"
    assert (legacy / "summary.json").read_text() == "[1, 2]"


def test_a_summary_draws_its_validation_curves_under_its_own_name(tmp_path):
    """With curves, the summary's figure is ``<name>_curves.png`` beside it, named in the text; a
    summary of other arguments gets its own figure, the first one's stays."""
    curve = [(500 * (i + 1), 0.6 + 0.01 * i, 0.01) for i in range(8)]
    first = comparelib.write_summary(tmp_path, "summary", {"episodes": 1}, "table", [],
                                     {"5-way 1-shot": {"ProtoNet": [curve, curve]}})
    png = tmp_path / "summary_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "`summary_curves.png`" in first.read_text()
    before = png.read_bytes()
    other = comparelib.write_summary(tmp_path, "summary", {"episodes": 2}, "table", [],
                                     {"5-way 1-shot": {"ProtoNet": [curve]}})
    assert (tmp_path / f"{other.stem}_curves.png").is_file() and png.read_bytes() == before
    assert f"`{other.stem}_curves.png`" in other.read_text()
    plain = comparelib.write_summary(tmp_path / "none", "summary", {"episodes": 1}, "table", [])
    assert "curves" not in plain.read_text() and not (tmp_path / "none" / "summary_curves.png").exists()


def test_interpolation_study_writes_its_table_and_curves(tmp_path, monkeypatch, capsys):
    """compare_interpolation's main end to end with the training and testing replaced: the summary
    holds the paired verdict and names its figure, whose panels are the shots."""
    import compare_interpolation as ci

    g = np.random.default_rng(0)

    def fake(job):
        lift = 0.1 if "MLTI" in job["method"] else 0.0
        accs = np.clip(g.uniform(0.4, 0.6, 50) + lift, 0, 1)
        curve = [(500 * (i + 1), 0.5 + lift, 0.01) for i in range(8)]
        return {**{k: job[k] for k in ("method", "shot", "seed", "run_dir")}, **run(job["seed"], accs),
                "episodes": 50, "best_val": 0.5, "train_seconds": 1.0, "curve": curve, "commit": "abc", "dirty": False}

    monkeypatch.setattr(ci, "run_one", fake)
    seen = {}
    real = comparelib.write_summary

    def spy(*args):
        seen["curves"] = args[5]
        return real(*args)

    monkeypatch.setattr(comparelib, "write_summary", spy)
    assert ci.main(["--seeds", "0", "1", "--shots", "1", "5", "--methods", "ProtoNet", "ProtoNet + MLTI",
                    "--out", str(tmp_path)]) == 0
    text = (tmp_path / "summary.md").read_text()
    assert "| ProtoNet + MLTI |" in text and "helped" in text and "`summary_curves.png`" in text
    assert (tmp_path / "summary_curves.png").is_file()
    assert list(seen["curves"]) == ["5-way 1-shot", "5-way 5-shot"]
    assert {m: len(c) for m, c in seen["curves"]["5-way 5-shot"].items()} == {"ProtoNet": 2, "ProtoNet + MLTI": 2}
    assert seen["curves"]["5-way 1-shot"]["ProtoNet + MLTI"][0][0] == (500, 0.6, 0.01)


def test_ibi_eps_changes_the_ibi_runs_only(tmp_path, capsys):
    """--ibi-eps reaches the IBI variants' config (its own run folders); baselines keep theirs."""
    import argparse

    import compare_interpolation as ci

    def job(method, eps):
        args = argparse.Namespace(episodes=4000, validations=8, val_episodes=200, device="cpu", threads=1,
                                  test_episodes=1000, out=tmp_path, ibi_eps=eps)
        return ci.make_job(method, 1, 0, args, [], "")

    assert job("ProtoNet", 0.02) == job("ProtoNet", None)
    small, default = job("ProtoNet + IBI", 0.02), job("ProtoNet + IBI", None)
    assert "model.options.interpolation.eps=0.02" in small["overrides"]
    assert not any("eps" in o for o in default["overrides"]) and small["run_dir"] != default["run_dir"]
    from fewshot.config import load_config

    cfg = load_config(ci.REPO / "configs" / "glyphs_s_protonet_ibi.yaml", small["overrides"])
    assert cfg.model.options["interpolation"]["eps"] == 0.02
    for bad, says in ((["--ibi-eps", "0"], "must be > 0"), (["--ibi-eps", "0.02", "--methods", "ProtoNet"], "add")):
        with pytest.raises(SystemExit):
            ci.main([*bad, "--out", str(tmp_path)])
        assert says in capsys.readouterr().err
