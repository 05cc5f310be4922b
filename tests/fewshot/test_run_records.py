"""run.json records how a run was started (command line, overrides, torch / CUDA, the working
directory's commit) and TensorBoard holds the resolved config as hparams and the final test
results (issue 18)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)

from fewshot.cli import main  # noqa: E402
from fewshot.runs.records import flat_hparams, result_tag, result_tags, tensorboard_available  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run started from inside a git repository (the user's experiment code)."""
    work = tmp_path_factory.mktemp("experiment")
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "notes.md").write_text("my experiment\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(git + ["add", "notes.md"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "start"], check=True)
    head = subprocess.run(git + ["rev-parse", "--short=10", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    config = tiny_run.write_config(work)
    argv = ["train", str(config), f"run.out_dir={work / 'runs'}", "run.name=r", "train.episodes=20",
            "train.val_every=10", "train.tensorboard=true"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        assert main(argv) == 0
    return work / "runs" / "r", argv, head, work


def test_run_json_records_the_command_overrides_versions_and_cwd_commit(trained):
    run, argv, head, work = trained
    info = json.loads((run / "run.json").read_text())
    assert info["command"].startswith("fewshot train ") and info["command"].endswith(" ".join(argv[2:]))
    assert info["overrides"] == argv[2:]
    assert info["torch"] == torch.__version__ and info["cuda"] == torch.version.cuda
    assert isinstance(info["gpus"], list)
    assert info["cwd"] == str(work)
    assert info["cwd_git"]["commit"] == head and info["cwd_git"]["dirty"] is False
    assert Path(info["cwd_git"]["path"]).resolve() == work.resolve()
    assert {"commit", "dirty", "started", "python", "resumes"} <= set(info)  # the keys it had before


def test_run_json_outside_a_git_repository(tmp_path, monkeypatch):
    from fewshot.runs.records import invocation_record, note_invocation

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    note_invocation(["fewshot", "train", "x.yaml", "train.lr=0.1"], ["train.lr=0.1"])
    rec = invocation_record()
    assert rec["cwd_git"] is None and rec["command"] == "fewshot train x.yaml train.lr=0.1"


@pytest.mark.skipif(not tensorboard_available(), reason="tensorboard not installed")
def test_tensorboard_holds_hparams_and_test_results(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    run = trained[0]
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    results = json.loads((run / "results.json").read_text())
    scalars = acc.Tags()["scalars"]
    assert "train/loss" in scalars  # the training scalars are still there
    for row, tag in zip(results, result_tags(results)):
        tag = tag + "/accuracy"
        assert tag in scalars, (tag, scalars)
        assert acc.Scalars(tag)[-1].value == pytest.approx(row["accuracy"])
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["train.n_way"].number_value == 4 and hp["model.backbone"].string_value == "conv4"
    assert hp["train.episodes"].number_value == 20
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    names = {m.name.tag for m in experiment.experiment.metric_infos}
    assert {t + "/accuracy" for t in result_tags(results)} <= names
    assert "config" in acc.Tags()["tensors"] or "config/text_summary" in acc.Tags()["tensors"]


def test_result_tags_tell_apart_rows_of_one_setting():
    a = {"dataset": "d", "split": "test", "n_way": 5, "k_shot": 1, "model": "best", "seed": 1, "episodes": 10}
    rows = [a, {**a, "seed": 2}, {**a, "k_shot": 5}, {**a, "seed": 2, "episodes": 20}, dict(a)]
    tags = result_tags(rows)
    assert len(set(tags)) == len(rows)
    assert tags[2] == result_tag(rows[2])  # alone in its setting: the plain tag
    assert tags[1].endswith("seed=2,episodes=10") and tags[3].endswith("seed=2,episodes=20")
    assert tags[4] == tags[0] + "/2"  # identical rows: a running number


def test_flat_hparams():
    flat = flat_hparams({"train": {"lr": 0.1, "milestones": [1, 2], "device": None},
                         "data": {"options": {"a": 1}}})
    assert flat == {"train.lr": 0.1, "train.milestones": "[1, 2]", "train.device": "null",
                    "data.options": '{"a": 1}'}


@pytest.mark.skipif(not tensorboard_available(), reason="tensorboard not installed")
def test_fewshot_eval_adds_its_results_to_tensorboard(trained, tmp_path):
    """A later `fewshot eval` of a run trained with TensorBoard lands there too, at the run's last
    training step; with --out (results elsewhere) the run's TensorBoard is left alone."""
    import shutil

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "r"
    shutil.copytree(trained[0], run)
    assert main(["eval", str(run), "--shots", "2", "--seed", "77", "--episodes", "3", "--quiet"]) == 0
    rows = json.loads((run / "results.json").read_text())
    (row, tag), = [(r, t) for r, t in zip(rows, result_tags(rows)) if r.get("seed") == 77]
    assert "/seed=77" in tag  # the training's own 2-shot test has the same base tag
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    tag = tag + "/accuracy"
    assert tag in acc.Tags()["scalars"]
    point = acc.Scalars(tag)[-1]
    assert point.value == pytest.approx(row["accuracy"]) and point.step == 20
    before = sorted(p.name for p in (run / "tensorboard").iterdir())
    assert main(["eval", str(run), "--shots", "1", "--seed", "78", "--episodes", "3", "--quiet",
                 "--out", str(tmp_path / "elsewhere")]) == 0
    assert sorted(p.name for p in (run / "tensorboard").iterdir()) == before
