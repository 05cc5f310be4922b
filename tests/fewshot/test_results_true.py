"""Results that stay true (issue 17): evaluations never overwrite each other, settings are
applied or refused (never recorded and ignored), one writer per run folder."""

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)

from fewshot.cli import main  # noqa: E402
from fewshot.commands.train import _run_dir  # noqa: E402
from fewshot.config import load_config  # noqa: E402
from fewshot.evaluation.run_eval import SETTING_KEYS, evaluate_run, merge_results, setting_key  # noqa: E402
from fewshot.evaluation.transductive import TransductiveSpec  # noqa: E402
from fewshot.runs.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from fewshot.runs.lock import is_locked, run_lock  # noqa: E402
from fewshot.runs.records import read_metrics  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny trained run (10 episodes, no validation), never modified: tests copy it."""
    base = tmp_path_factory.mktemp("trained")
    argv = ["train", str(tiny_run.write_config(base)), f"run.out_dir={base / 'runs'}", "run.name=r",
            "train.episodes=10", "train.val_every=0", "--no-eval"]
    assert main(argv) == 0
    return base / "runs" / "r"


@pytest.fixture
def run(trained, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def _error(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fewshot: error: ") and "Traceback" not in err, err
    return err


def _rows(folder: Path):
    return json.loads((folder / "results.json").read_text())


# ---------------------------------------------------------------- evaluations never overwrite each other
ARGS = st.fixed_dictionaries({
    "seed": st.sampled_from([1, 2]), "n_way": st.sampled_from([2, 3]), "shots": st.sampled_from([[1], [2]]),
    "n_query": st.sampled_from([1, 2]), "episodes": st.sampled_from([2, 3]),
    "split": st.sampled_from(["test", "val"]), "root": st.sampled_from(["A", "B"]),
    "untrained": st.booleans(), "method": st.sampled_from([None, "nearest-centroid"]),
})


def _evaluate(run: Path, out: Path, a: dict):
    spec = None if a["method"] is None else TransductiveSpec(a["method"], norm="none")
    return evaluate_run(run, split=a["split"], n_way=a["n_way"], shots=a["shots"], n_query=a["n_query"],
                        episodes=a["episodes"], seed=a["seed"], untrained=a["untrained"], progress=False,
                        transductive=spec, target_data={"root": str(out / a["root"])}, out_dir=out)


def _matches(row: dict, a: dict, out: Path) -> bool:
    return (row["seed"] == a["seed"] and row["n_way"] == a["n_way"] and row["k_shot"] == a["shots"][0]
            and row["n_query"] == a["n_query"] and row["episodes"] == a["episodes"] and row["split"] == a["split"]
            and row["data_root"] == str((out / a["root"]).resolve())
            and (row["model"] == "untrained") == a["untrained"]
            and row["method"].startswith(a["method"] or "inductive"))


@settings(max_examples=12, deadline=None, derandomize=True, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=ARGS, b=ARGS)
def test_any_two_evaluations_that_differ_both_survive(trained, a, b):
    out = Path(tempfile.mkdtemp(prefix="evals-", dir=trained.parent))
    _evaluate(trained, out, a)
    _evaluate(trained, out, b)
    rows = _rows(out)
    assert any(_matches(r, a, out) for r in rows) and any(_matches(r, b, out) for r in rows)
    assert len(rows) == (1 if a == b else 2)  # the same evaluation twice replaces, never duplicates
    assert len(list((out / "eval").glob("*.csv"))) == len(rows)  # and each keeps its own CSV
    for r in rows:
        assert set(SETTING_KEYS) <= set(r) and Path(r["checkpoint"]).is_absolute()
        assert (out / r["episodes_csv"]).is_file()
    assert not (trained / "results.json").exists()  # --out: the run folder is untouched
    shutil.rmtree(out)


def test_merge_keeps_rows_of_other_settings_and_old_rows(tmp_path):
    old = {"model": "best", "dataset": "tiny", "split": "test", "n_way": 5, "k_shot": 1, "accuracy": 1.0}
    merge_results(tmp_path, [old])
    row = {**old, "seed": 7, "accuracy": 2.0}
    merge_results(tmp_path, [row])
    assert [r["accuracy"] for r in _rows(tmp_path)] == [1.0, 2.0]
    merge_results(tmp_path, [{**row, "accuracy": 3.0}])  # the same setting again: replaced
    assert [r["accuracy"] for r in _rows(tmp_path)] == [1.0, 3.0]
    assert setting_key(row) != setting_key({**row, "data_root": "/elsewhere"})


def test_seeds_give_mean_and_spread_beside_per_seed_cis(run, capsys):
    assert main(["eval", str(run), "--quiet", "--seeds", "1", "2", "3", "--shots", "1", "--episodes", "3"]) == 0
    out = capsys.readouterr().out
    assert "mean over 3 seeds" in out and "sd across seeds" in out
    rows = _rows(run)
    per_seed = sorted((r for r in rows if r["seed"] is not None), key=lambda r: r["seed"])
    (summary,) = [r for r in rows if r.get("seeds")]
    assert [r["seed"] for r in per_seed] == [1, 2, 3] == summary["seeds"]
    acc = torch.tensor([r["accuracy"] for r in per_seed], dtype=torch.float64)
    assert summary["accuracy"] == pytest.approx(float(acc.mean()), abs=1e-3)
    assert summary["seed_std"] == pytest.approx(float(acc.std()), abs=1e-3)  # sample sd across seeds
    assert summary["ci95_per_seed"] == [r["ci95"] for r in per_seed]
    report = (run / "report.md").read_text()  # refreshed after `fewshot eval`
    assert "mean of 1,2,3" in report and "sd over seeds" in report


def test_corrupt_results_json_is_reported_by_name_and_kept(run, capsys):
    (run / "results.json").write_text('[{"accuracy": 50.0}, {"trunc')
    err = _error(capsys, ["eval", str(run), "--quiet", "--episodes", "2"])
    assert str(run / "results.json") in err and "will not overwrite" in err
    assert (run / "results.json").read_text() == '[{"accuracy": 50.0}, {"trunc'


@pytest.mark.parametrize("flags, needle", [
    (["--n-way", "1"], "--n-way must be an integer >= 2"), (["--shots", "0"], "--shots must be integers >= 1"),
    (["--episodes", "0"], "--episodes must be an integer >= 1"), (["--n-query", "0"], "--n-query must be"),
    (["--transductive", "laplacianshot", "--lambda", "nan"], "--lambda must be a finite number"),
    (["--seeds", "1", "1"], "lists a seed twice"), (["--seed", "1", "--seeds", "2", "3"], "not both"),
])
def test_eval_flags_are_validated_not_replaced(run, capsys, flags, needle):
    assert needle in _error(capsys, ["eval", str(run), "--quiet", *flags])
    assert not (run / "results.json").exists()


def test_read_only_run_folder_needs_out(run, tmp_path, capsys, monkeypatch):
    import fewshot.atomic as atomic

    real = atomic.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kw):  # the run folder is read-only (as root, chmod would not stop us)
        if Path(dir).resolve() == run.resolve():
            raise PermissionError(30, "Read-only file system")
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    err = _error(capsys, ["eval", str(run), "--quiet", "--episodes", "2"])
    assert str(run) in err and "--out DIR" in err
    before = sorted(p.name for p in run.rglob("*"))
    assert main(["eval", str(run), "--quiet", "--episodes", "2", "--out", str(tmp_path / "elsewhere")]) == 0
    assert len(_rows(tmp_path / "elsewhere")) == 2 and (tmp_path / "elsewhere" / "report.md").is_file()
    assert sorted(p.name for p in run.rglob("*")) == before


def test_data_root_and_checkpoint_are_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    assert main(["train", str(tiny_run.write_config(tmp_path)), "run.out_dir=runs", "run.name=rel",
                 "data.root=data", "train.episodes=4", "train.val_every=0", "eval.episodes=2", "eval.shots=[1]"]) == 0
    cfg = load_config(tmp_path / "runs" / "rel" / "config.yaml")
    assert cfg.data.root == str(tmp_path / "data")
    (row,) = _rows(tmp_path / "runs" / "rel")
    assert row["data_root"] == str(tmp_path / "data") and Path(row["checkpoint"]).is_absolute()


def test_nan_weights_at_evaluation_say_so(run, capsys):
    state = load_checkpoint(run / "checkpoints" / "best.pt")
    name = next(iter(state["model"]))
    state["model"][name] = torch.full_like(state["model"][name], float("nan"))
    save_checkpoint(state, run / "checkpoints" / "best.pt")
    err = _error(capsys, ["eval", str(run), "--quiet"])
    assert "NaN or infinite weights" in err and name in err


def test_learner_options_are_typed(tmp_path, capsys):
    base = ["train", str(tiny_run.write_config(tmp_path)), f"run.out_dir={tmp_path / 'runs'}", "--no-eval",
            "train.episodes=2"]
    err = _error(capsys, [*base, "model.learner=matchingnet", 'model.options={fce: "false"}'])
    assert "'model.options.fce' expects true or false, got 'false'" in err
    err = _error(capsys, [*base, "model.learner=matchingnet", "model.options.temperature=warm"])
    assert "'model.options.temperature' expects a number" in err
    assert main([*base, "model.learner=matchingnet", "model.options.temperature=2", "run.name=ok"]) == 0


def test_yaml_alias_bomb_and_deep_nesting_are_refused(tmp_path, capsys):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = "model.options={" + ", ".join(levels) + "}"
    assert len(bomb) < 600
    base = ["train", str(tiny_run.write_config(tmp_path)), f"run.out_dir={tmp_path / 'runs'}", "--no-eval"]
    assert "expands to more than" in _error(capsys, [*base, bomb])
    assert "nests" in _error(capsys, [*base, "model.options={x: " + "[" * 3000 + "]" * 3000 + "}"])
    assert "beyond any usable size" in _error(capsys, [*base, "train.episodes=" + "1" + "0" * 29])
    deep = tmp_path / "deep.yaml"
    deep.write_text(tiny_run.TINY_CONFIG + "run: {name: " + "{a: " * 40 + "1" + "}" * 40 + "}\n")
    assert "nests deeper" in _error(capsys, ["train", str(deep)])


# ---------------------------------------------------------------- resume: applied or refused
def _resume(run: Path, *overrides) -> int:
    return main(["train", "--resume", str(run), "--no-eval", *overrides])


def test_resume_applies_a_new_learning_rate_and_records_it(run):
    assert _resume(run, "train.episodes=14", "train.lr=0.0005", "train.log_every=2") == 0
    rows = [r for r in read_metrics(run) if r["kind"] == "train" and r["episode"] > 10]
    # the tiny config halves every 20 episodes: episodes 11-14 run at the new base rate
    assert rows and all(r["lr"] == pytest.approx(0.0005) for r in rows)
    assert [r["episode"] for r in rows] == [12, 14]  # the new log_every is applied too
    (resume,) = json.loads((run / "run.json").read_text())["resumes"]
    assert resume["changed"]["train.lr"] == {"from": 0.005, "to": 0.0005}
    assert resume["changed"]["train.episodes"] == {"from": 10, "to": 14}
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["episode"] == 14 and state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0005)


def test_extending_a_finished_run_equals_the_longer_run(trained, tmp_path):
    short = tmp_path / "short"
    shutil.copytree(trained, short)
    assert _resume(short, "train.episodes=16") == 0
    base = trained.parent.parent
    assert main(["train", str(base / "tiny.yaml"), f"run.out_dir={tmp_path}", "run.name=long",
                 "train.episodes=16", "train.val_every=0", "--no-eval"]) == 0
    a = load_checkpoint(short / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "long" / "checkpoints" / "last.pt")
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)


@pytest.mark.parametrize("override, needle", [
    ("data.seed=4", "data.seed=0 (now 4)"), ("data.options.per_class=6", "data.options"),
    ("train.n_way=3", "train.n_way=4 (now 3)"), ("run.name=other", "run.name"),
    ("model.options.learn_scale=false", "model.options"), ("train.episodes=5", "train.episodes >= 10"),
])
def test_resume_refuses_what_may_not_change(run, capsys, override, needle):
    config = (run / "config.yaml").read_text()
    err = _error(capsys, ["train", "--resume", str(run), override, "--no-eval"])
    assert needle in err
    if "episodes" not in override:
        assert "may change only" in err and "train.lr" in err
    assert (run / "config.yaml").read_text() == config  # refused: nothing recorded


def test_a_run_killed_in_its_first_seconds_says_start_again(tmp_path, capsys):
    (tmp_path / "young").mkdir()
    assert "start it again" in _error(capsys, ["train", "--resume", str(tmp_path / "young")])


# ---------------------------------------------------------------- one writer per run folder
def test_a_second_writer_is_refused(run, capsys):
    with run_lock(run, "fewshot train (test)"):
        assert is_locked(run)
        err = _error(capsys, ["train", "--resume", str(run), "--no-eval"])
        assert "is being written by pid" in err and "fewshot train (test)" in err
        assert "being written" in _error(capsys, ["eval", str(run), "--quiet"])
        bench = ["benchmark", str(run), "--ways", "2", "--shots", "1", "--n-query", "2", "--episodes", "2", "--quiet",
                 "--out", str(run.parent / "bench")]
        assert "being written" in _error(capsys, bench)
        assert not (run / "results.json").exists()
    assert not is_locked(run)
    assert main(["eval", str(run), "--quiet", "--episodes", "2"]) == 0  # free again


def test_default_run_names_are_unique_within_a_second(tmp_path):
    cfg = load_config(tiny_run.write_config(tmp_path))
    names = {_run_dir(cfg, "tiny.yaml").name for _ in range(50)}
    assert len(names) == 50 and all(n.startswith("tiny-") for n in names)


# ---------------------------------------------------------------- data: typed options, pixels of any dtype
def test_loader_options_are_typed():
    from fewshot.data.options import parse_options

    with pytest.raises(ValueError, match=r"data.options.workers\) expects an integer, got 'abc'"):
        parse_options("cifar_fs", {"workers": "abc"})
    with pytest.raises(ValueError, match="expects true or false"):
        parse_options("cifar_fs", {"skip_corrupt": "yes"})
    assert parse_options("cifar_fs", {"workers": 2, "cache_dir": Path("/tmp")})[0].workers == 2


def test_float_and_wide_pixels_are_scaled_not_cast():
    import numpy as np

    from fewshot.data.images import to_array

    grey = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)  # a float TIFF / pickle in [0, 1]
    out = to_array(grey, 8, 1)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255  # not all black
    np.testing.assert_array_equal(to_array(grey * 255, 8, 1), out)  # floats in [0, 255] kept
    np.testing.assert_array_equal(to_array((grey * 65535).astype(np.uint16), 8, 1), out)
    from PIL import Image

    np.testing.assert_array_equal(to_array(Image.fromarray(grey, "F"), 8, 1), out)  # PIL would clip to 0/1
    for bad, needle in ((grey * 1000, "up to 1000"), (grey - 0.5, "negative"), (grey * np.nan, "NaN")):
        with pytest.raises(ValueError, match=needle):
            to_array(bad, 8, 1)


def test_a_1d_cifar_pickle_is_refused_by_name(tmp_path):
    import pickle

    import numpy as np

    from fewshot.data.cifar import collect_pickle

    path = tmp_path / "CIFAR_FS_train.pickle"
    path.write_bytes(pickle.dumps({"data": np.zeros(12, dtype=np.uint8), "labels": list(range(12))}))
    with pytest.raises(ValueError, match=r"CIFAR_FS_train.pickle.*should hold images"):
        collect_pickle(path)


def test_model_keys_a_learner_ignores_are_refused(tmp_path, capsys):
    base = ["train", str(tiny_run.write_config(tmp_path)), f"run.out_dir={tmp_path / 'runs'}", "--no-eval",
            "train.episodes=2", "model.learner=matchingnet"]
    err = _error(capsys, [*base, "model.distance=cosine"])
    assert "does not use model.distance" in err and "protonet" in err
    assert "does not use model.distance" in _error(capsys, [*base, "model.distance=nonsense"])


def test_eval_can_drop_small_classes_and_records_it(run, capsys):
    """The small-class error of `fewshot eval` names a flag that eval accepts; with it the small
    class is left out, and the row records drop_small_classes (a different evaluation)."""
    from fewshot.data.base import ImageSplit
    from fewshot.data.registry import register_dataset

    def one_small(split, **kw):  # the test split with class c13 cut to 2 images
        data = tiny_run.load_tiny(split, **kw)
        keep = ~((data.labels == 0) & (torch.arange(len(data.labels)).numpy() % 10 > 1))
        return ImageSplit(data.images[keep], data.labels[keep], data.class_names, data.name)

    register_dataset("tiny_one_small")(one_small)
    argv = ["eval", str(run), "--data", "tiny_one_small", "--split", "test", "--shots", "2", "--episodes", "3",
            "--n-query", "2", "--quiet"]
    err = _error(capsys, argv)
    assert "has 2 samples" in err and "--drop-small-classes" in err
    with pytest.warns(UserWarning, match="dropped 1 of"):
        assert main(argv + ["--drop-small-classes"]) == 0
    rows = [r for r in _rows(run) if r.get("dataset") == "tiny_one_small"]
    assert len(rows) == 1 and rows[0]["episode_keys"]["drop_small_classes"] is True
