"""Metrics logs, TensorBoard mirror, PNG figures and results tables."""

import csv
import io
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)

from fewshot.cli import main  # noqa: E402
from fewshot.reporting import (  # noqa: E402
    MetricsLog,
    collect_results,
    markdown_table,
    pca_2d,
    plot_accuracy_sweep,
    plot_embedding,
    plot_learning_curves,
    plot_validation_curves,
    read_metrics,
    series,
    tsne_2d,
    write_report,
)
from fewshot.reporting import plots as plots_module  # noqa: E402
from fewshot.runs import records as tb_module  # noqa: E402


def png_size(path: Path):
    """(width, height) from the PNG header, after checking the signature and decoding the file."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    with Image.open(io.BytesIO(data)) as img:
        img.load()  # fully decodes: a truncated or corrupt file fails here
    return struct.unpack(">II", data[16:24])


def expected(size):
    return (round(size[0] * plots_module.DPI), round(size[1] * plots_module.DPI))


def fake_run(folder: Path, seed: int, results=None) -> Path:
    """A run folder with a metrics log (two loss terms) and, optionally, results.json."""
    folder.mkdir(parents=True)
    log = MetricsLog(folder / "metrics.jsonl")
    rng = np.random.default_rng(seed)
    for ep in range(10, 101, 10):
        loss = 2.0 / ep ** 0.5 + 0.05 * rng.random()
        log.write("train", ep, loss=loss, ce=0.8 * loss, triplet=0.2 * loss, acc=1 - loss / 2, lr=1e-3,
                  episodes_per_s=50.0)
        if ep % 50 == 0:
            log.write("val", ep, val_acc=0.5 + ep / 400, val_ci95=0.02)
    log.close()
    (folder / "run.json").write_text(json.dumps({"commit": "0123456789", "dirty": False}))
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    return folder


def result_row(n_way, k_shot, acc, ci, model="best", method="inductive"):
    return {"model": model, "dataset": "tiny", "learner": "protonet", "backbone": "conv4", "checkpoint": "x.pt",
            "split": "test", "n_way": n_way, "k_shot": k_shot, "n_query": 15, "episodes": 600, "method": method,
            "accuracy": acc, "ci95": ci, "ms_per_episode": 1.0}


ROWS = [result_row(5, 1, 61.237, 0.811), result_row(5, 5, 78.904, 0.613), result_row(10, 1, 44.5, 0.52),
        result_row(10, 5, 63.125, 0.4), result_row(5, 1, 35.01, 0.7, model="untrained"),
        result_row(5, 5, 70.0, 0.5, method="tim")]


# ---------------------------------------------------------------- metrics log
def test_metrics_log_appends_across_a_resume_and_the_reader_resolves_replays(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    log.write("train", 5, loss=1.0)
    offset = log.offset  # what a checkpoint at episode 5 records
    log.write("train", 10, loss=0.5)  # written after the checkpoint, before the kill
    log.close()
    before = path.read_bytes()
    with path.open("ab") as f:
        f.write(b'{"kind": "train", "epis')  # a row torn by the kill
    log = MetricsLog(path, resume_offset=offset, resume_episode=5)
    log.write("train", 10, loss=0.4)
    log.close()
    after = path.read_bytes()
    assert after[:offset] == before[:offset]
    rows = read_metrics(tmp_path)
    assert [(r["kind"], r["episode"]) for r in rows] == [("train", 5), ("resume", 5), ("train", 10)]
    assert rows[1]["discarded_rows"] == 2 and rows[2]["loss"] == 0.4
    # A log that was never cut (e.g. copied from elsewhere): the resume row still wins.
    path.write_text('{"kind": "train", "episode": 5, "loss": 1}\n{"kind": "train", "episode": 10, "loss": 9}\n'
                    '{"kind": "resume", "episode": 5}\n{"kind": "train", "episode": 10, "loss": 2}\n'
                    '{"kind": "val", "episode": 10, "val_acc": 0.5}\n{"kind": "tr')
    assert series(read_metrics(path), "train", "loss")[1].tolist() == [1.0, 2.0]
    path.write_text('{"kind": "train", "episode": 5}\nnot json\n{"kind": "train", "episode": 6}\n')
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        read_metrics(path)


def test_a_training_run_logs_every_scalar_the_issue_lists(tmp_path):
    cfg = tiny_run.write_config(tmp_path)
    assert main(["train", str(cfg), f"run.out_dir={tmp_path}", "run.name=r", "--no-eval", "train.episodes=20",
                 "train.val_every=10"]) == 0
    rows = read_metrics(tmp_path / "r")
    train_row = next(r for r in rows if r["kind"] == "train")
    assert {"episode", "loss", "ce", "acc", "lr", "episodes_per_s"} <= set(train_row)
    val_row = next(r for r in rows if r["kind"] == "val")
    assert {"episode", "val_acc", "val_ci95"} <= set(val_row) and 0 <= val_row["val_acc"] <= 1
    assert [r["episode"] for r in rows if r["kind"] == "train"] == [5, 10, 15, 20]


def test_tensorboard_is_optional(tmp_path, monkeypatch):
    monkeypatch.setattr(tb_module, "tensorboard_available", lambda: False)
    assert tb_module.open_tensorboard(tmp_path / "tb") is None


def test_tensorboard_events_hold_the_same_scalars_and_purge_replays(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = tb_module.open_tensorboard(tmp_path)
    log = MetricsLog(tmp_path / "metrics.jsonl", mirror=writer)
    for ep in (5, 10, 15):
        log.write("train", ep, loss=1.0 / ep, acc=0.5, lr=0.1)
    log.write("val", 15, val_acc=0.7, val_ci95=0.01)
    log.close()
    writer = tb_module.open_tensorboard(tmp_path, resume_episode=5)  # replays 10 and 15
    writer.write("train", 10, {"loss": 0.5})
    writer.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert {"train/loss", "train/acc", "train/lr", "val/val_acc", "val/val_ci95"} <= set(acc.Tags()["scalars"])
    assert [(e.step, round(e.value, 6)) for e in acc.Scalars("train/loss")] == [(5, 0.2), (10, 0.5)]


# ---------------------------------------------------------------- figures
def test_learning_curves_of_several_runs_are_pngs_of_the_expected_size(tmp_path):
    runs = [fake_run(tmp_path / "a", 0), fake_run(tmp_path / "b", 1)]
    out = plot_learning_curves(runs, tmp_path / "curves.png", labels=["A", "B"])
    assert png_size(out) == expected(plots_module.CURVES_SIZE)
    with pytest.raises(ValueError, match="labels"):
        plot_learning_curves(runs, tmp_path / "x.png", labels=["A"])


@pytest.mark.parametrize("x", ["k_shot", "n_way"])
def test_accuracy_sweeps_are_pngs_of_the_expected_size(tmp_path, x):
    rows = [{**r, "run": "a"} for r in ROWS]
    out = plot_accuracy_sweep(rows, x, tmp_path / f"{x}.png")
    names = ["a" * 28]  # ROWS' longest legend entry: "untrained, inductive, 5-way"-like
    assert png_size(out)[1] == expected(plots_module.SWEEP_SIZE)[1]
    assert png_size(out)[0] >= expected(plots_module.SWEEP_SIZE)[0]
    assert plots_module.sweep_size(1, names) >= plots_module.SWEEP_SIZE


def _cross_domain_rows():
    """Two runs, each evaluated on its own data (600 episodes, and again over 200) and on
    Fashion-MNIST (1000 episodes)."""
    rows = []
    for run, base in (("run_a", 60.0), ("run_b", 70.0)):
        for k in (1, 5):
            rows.append({**result_row(5, k, base + 5 * k, 0.5), "run": run})
            rows.append({**result_row(5, k, base + 5 * k + 3, 1.0), "run": run, "episodes": 200})
            rows.append({**result_row(5, k, base - 10 + k, 0.6), "run": run, "dataset": "fashion_mnist",
                         "episodes": 1000})
    return rows


def test_cross_domain_sweep_has_a_panel_per_data_set_named_lines_and_the_legend_off_the_data(tmp_path):
    rows = _cross_domain_rows()
    fig = plots_module.sweep_figure(rows, "k_shot", labels={"run_a": "ProtoNet", "run_b": "MatchingNet"})
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["fashion_mnist/test", "tiny/test"]
    legend = fig.legends[0]
    names = [t.get_text() for t in legend.get_texts()]
    assert len(names) == len(set(names)) == 6  # 2 runs x (600, 200 on tiny; 1000 on fashion_mnist)
    assert all(n.startswith(("ProtoNet", "MatchingNet")) for n in names)  # --labels honoured
    assert "ProtoNet, 200 episodes" in names and "MatchingNet, 1000 episodes" in names
    for ax in panels:  # no line goes back on itself: 200- and 600-episode rows are never joined
        for line in ax.get_lines():
            xs = line.get_xdata()
            if len(xs) > 1:
                assert np.all(np.diff(xs) > 0)
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert all(box.x0 >= ax.get_window_extent().x1 for ax in panels)  # beside the panels, not on them
    assert "best" in fig._suptitle.get_text() and "5-way" in fig._suptitle.get_text()
    out = plot_accuracy_sweep(rows, "k_shot", tmp_path / "cross.png", {"run_a": "ProtoNet", "run_b": "MatchingNet"})
    assert png_size(out)[0] >= expected(plots_module.SWEEP_SIZE)[0] + plots_module.FACET_WIDTH * 100 - 1


def test_plot_command_honours_labels_in_the_sweep(tmp_path, capsys, monkeypatch):
    import fewshot.reporting as reporting

    rows = _cross_domain_rows()
    for run in ("run_a", "run_b"):
        fake_run(tmp_path / run, 0, results=[{k: v for k, v in r.items() if k != "run"} for r in rows
                                             if r["run"] == run])
    seen = []
    monkeypatch.setattr(reporting, "plot_accuracy_sweep",
                        lambda r, x, out, labels=None: seen.append(labels) or Path(out))
    assert main(["plot", str(tmp_path / "run_a"), str(tmp_path / "run_b"), "--what", "shots",
                 "--labels", "A", "B", "--out", str(tmp_path / "p")]) == 0
    assert seen == [{"run_a": "A", "run_b": "B"}]
    assert main(["plot", str(tmp_path / "run_a"), str(tmp_path / "run_b"), "--labels", "A"]) == 2
    assert "--labels: 1 labels for 2 runs" in capsys.readouterr().err


def test_pretraining_curves_are_drawn_against_steps(tmp_path):
    import yaml

    run = fake_run(tmp_path / "pre", 0)
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"learner": "pretrain"}}))
    episodic = fake_run(tmp_path / "epi", 1)
    (episodic / "config.yaml").write_text(yaml.safe_dump({"model": {"learner": "protonet"}}))
    assert plots_module.x_unit(run) == "step" and plots_module.x_unit(episodic) == "episode"
    assert plots_module.x_unit(tmp_path / "nowhere") == "episode"
    assert png_size(plot_learning_curves([run], tmp_path / "pre.png")) == expected(plots_module.CURVES_SIZE)


def test_mean_curve_averages_the_seeds_at_the_episodes_they_share():
    a = [(500, 0.70, 0.01), (1000, 0.74, 0.01), (1500, 0.80, 0.01)]
    b = [(500, 0.60, 0.01), (1000, 0.66, 0.01)]  # a shorter curve (a run with fewer validations)
    episodes, accs = plots_module.mean_curve([a, b])
    expect = []
    for episode in (500, 1000):  # the naive loop
        values = [acc for curve in (a, b) for e, acc, _ in curve if e == episode]
        expect.append(sum(values) / len(values))
    assert episodes.tolist() == [500, 1000] and accs == pytest.approx(expect)
    assert plots_module.mean_curve([]) [0].size == 0


def test_study_validation_curves_draw_every_seed_and_their_mean(tmp_path, monkeypatch):
    """One panel per key (three to a row), per method a thin line per seed and a thick mean
    line; the shaded span starts at the last third's first validation (curve_state's window)."""
    def curve(base):
        return [(500 * (i + 1), base + 0.01 * i, 0.01) for i in range(8)]

    panels = {"5-way 1-shot": {"A": [curve(0.5), curve(0.6)], "B": [curve(0.7)]},
              "5-way 5-shot": {"A": [curve(0.8)]}, "c": {"B": [curve(0.1)]}, "d": {"A": [curve(0.2)]}}
    figures = []
    real_save = plots_module._save
    monkeypatch.setattr(plots_module, "_save", lambda fig, out: figures.append(fig) or real_save(fig, out))
    out = plot_validation_curves(panels, tmp_path / "study.png", title="t")
    width, height = png_size(out)
    assert width == round(3 * plots_module.STUDY_PANEL[0] * plots_module.DPI)
    assert height == round((2 * plots_module.STUDY_PANEL[1] + 0.6) * plots_module.DPI)
    axes = [ax for ax in figures[0].axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == list(panels)
    first = axes[0]
    thick = [line for line in first.get_lines() if line.get_linewidth() == 2]
    thin = [line for line in first.get_lines() if line.get_linewidth() < 2]
    assert len(thin) == 3 and len(thick) == 2
    assert thick[0].get_label() == "A (2 seeds)" and thick[1].get_label() == "B (1 seed)"
    assert np.asarray(thick[0].get_ydata()) == pytest.approx([100 * (0.55 + 0.01 * i) for i in range(8)])
    span = first.patches[0].get_extents()  # display units: compare with the data -> display transform
    start = first.transData.transform((3500, 0))[0]  # 8 validations: the last 2 (3500, 4000)
    assert span.x0 == pytest.approx(start, abs=1)
    with pytest.raises(ValueError, match="no validation curves"):
        plot_validation_curves({}, tmp_path / "none.png")


def test_a_figure_that_fails_to_save_leaves_the_old_file(tmp_path, monkeypatch):
    """Figures are written atomically: a failed write (a full disk) keeps the earlier PNG whole."""
    from matplotlib.figure import Figure

    run = fake_run(tmp_path / "a", 0)
    out = plot_learning_curves([run], tmp_path / "curves.png")
    before = out.read_bytes()

    def torn(self, f, **kwargs):
        f.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", torn)
    with pytest.raises(OSError, match="curves.png"):
        plot_learning_curves([run], out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "curves.png"]


def test_embedding_plot_is_a_png_of_the_expected_size(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(30, 2))
    labels = np.repeat(np.arange(3), 10)
    out = plot_embedding(points, labels, tmp_path / "e.png", ["a", "b", "c"], "t", is_support=labels < 0)
    assert png_size(out) == expected(plots_module.EMBEDDING_SIZE)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pca_matches_the_covariance_eigenvectors(dtype):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5))).astype(dtype)
    got = pca_2d(x)
    centred = x.astype(np.float64) - x.astype(np.float64).mean(0)
    cov = np.zeros((5, 5))
    for row in centred:  # naive loop from the definition
        cov += np.outer(row, row) / (len(x) - 1)
    vals, vecs = np.linalg.eigh(cov)
    for j, axis in enumerate(vecs[:, ::-1][:, :2].T):
        ref = centred @ axis
        assert np.allclose(np.abs(got[:, j]), np.abs(ref), atol=1e-4 if dtype == np.float32 else 1e-9)
    assert np.var(got[:, 0]) >= np.var(got[:, 1])


def test_tsne_keeps_separated_clusters_apart_and_is_deterministic():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(4, 20))
    labels = np.repeat(np.arange(4), 15)
    x = centres[labels] + rng.normal(size=(60, 20))
    y = tsne_2d(x, iterations=400)
    d = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    neighbours = np.argsort(d, axis=1)[:, :5]
    assert (labels[neighbours] == labels[:, None]).mean() > 0.95
    assert np.array_equal(y, tsne_2d(x, iterations=400))


# ---------------------------------------------------------------- results tables
def test_report_numbers_equal_the_evaluation_results(tmp_path):
    run = fake_run(tmp_path / "run", 0, results=ROWS)
    md, table = write_report([run], tmp_path / "out" / "report")
    with table.open() as f:
        parsed = list(csv.DictReader(f))
    assert len(parsed) == len(ROWS)
    by_key = {(r["model"], r["method"], r["n_way"], r["k_shot"]): r for r in ROWS}
    for row in parsed:
        src = by_key[(row["model"], row["method"], int(row["n_way"]), int(row["k_shot"]))]
        assert float(row["accuracy"]) == src["accuracy"] and float(row["ci95"]) == src["ci95"]
        for key in ("dataset", "split", "learner", "backbone"):
            assert row[key] == src[key]
        assert int(row["n_query"]) == src["n_query"] and int(row["episodes"]) == src["episodes"]
        assert row["commit"] == "0123456789" and row["run"] == "run"
    text = md.read_text()
    for src in ROWS:
        assert f"| {src['accuracy']:.2f} | {src['ci95']:.2f} |" in text
    assert "| tim |" in text and text.count("\n| tiny |") == len(ROWS)
    assert markdown_table(collect_results([run])) in text


def test_report_command_and_missing_results(tmp_path, capsys):
    a = fake_run(tmp_path / "a", 0, results=ROWS[:2])
    b = fake_run(tmp_path / "b", 1, results=[{**ROWS[2], "commit": "fedcba9876"}])
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "both")]) == 0
    out = capsys.readouterr().out
    assert "61.24" in out and "fedcba9876" in out and "both.md" in out
    assert (tmp_path / "both.csv").read_text().count("\n") == 4
    c = fake_run(tmp_path / "c", 2)
    assert main(["report", str(c)]) == 2
    assert "has no results.json" in capsys.readouterr().err


def test_plot_command_on_a_trained_run_and_the_demo_ending(tmp_path, capsys):
    cfg = tiny_run.write_config(tmp_path)
    assert main(["train", str(cfg), f"run.out_dir={tmp_path}", "run.name=r", "train.episodes=10",
                 "train.val_every=5"]) == 0
    run = tmp_path / "r"
    out = capsys.readouterr().out
    assert f"learning curves: {run / 'plots' / 'learning_curves.png'}" in out
    assert f"results table:   {run / 'report.md'}" in out
    assert png_size(run / "plots" / "learning_curves.png") == expected(plots_module.CURVES_SIZE)
    results = json.loads((run / "results.json").read_text())
    table = list(csv.DictReader((run / "report.csv").open()))
    assert sorted(float(r["accuracy"]) for r in table) == sorted(r["accuracy"] for r in results)

    assert main(["plot", str(run), "--per-class", "8"]) == 0  # shots 1 and 2: a shots sweep; one way only
    out = capsys.readouterr().out
    assert "accuracy against ways skipped" in out
    for name, size in (("learning_curves", "CURVES_SIZE"), ("accuracy_vs_shots", "SWEEP_SIZE"),
                       ("embedding_pca", "EMBEDDING_SIZE")):
        assert png_size(run / "plots" / f"{name}.png") == expected(getattr(plots_module, size))
    assert main(["plot", str(run), "--what", "embedding", "--episode", "--method", "tsne", "--classes", "3",
                 "--out", str(tmp_path / "p")]) == 0
    assert png_size(tmp_path / "p" / "embedding_tsne_episode.png") == expected(plots_module.EMBEDDING_SIZE)
    assert main(["plot", str(run), "--what", "embedding", "--classes", "50"]) == 2
    assert "n_classes must be in 2..5" in capsys.readouterr().err


def test_report_shows_the_range_of_ways_shots_and_queries_when_they_vary():
    from fewshot.reporting.report import markdown_table

    row = {"dataset": "glyphs", "split": "evaluation", "n_way": 0, "k_shot": 0, "n_query": 0, "episodes": 600,
           "accuracy": 71.5, "ci95": 1.2, "learner": "protonet", "backbone": "conv4", "method": "inductive",
           "model": "best", "run": "r", "commit": "abc",
           "ways": {"mean": 12.25, "min": 5, "max": 40}, "shots": {"mean": 3.5, "min": 1, "max": 20},
           "queries": {"mean": 9.0, "min": 2, "max": 10}}
    fixed = {**row, "n_way": 5, "k_shot": 1, "n_query": 15}
    for key in ("ways", "shots", "queries"):
        fixed.pop(key)
    lines = markdown_table([row, fixed]).splitlines()
    assert "| 5-40 (mean 12.2) | 1-20 (mean 3.5) | 2-10 (mean 9.0) |" in lines[2]
    assert "| 5 | 1 | 15 |" in lines[3]


def test_report_pivots_runs_against_data_set_and_shots(tmp_path, capsys):
    """Rows = run x weights x method with image size, seed and budget; columns = data set x shots."""
    import yaml

    from fewshot.reporting.report import pivot, run_settings

    cross = [{**result_row(5, 1, 50.5, 0.9), "dataset": "fashion_mnist"},
             {**result_row(5, 1, 52.25, 0.7), "dataset": "fashion_mnist", "episodes": 200}]
    a = fake_run(tmp_path / "a", 0, results=ROWS + cross)
    (a / "config.yaml").write_text(yaml.safe_dump({"data": {"image_size": 84}, "train": {"seed": 7, "episodes": 2000},
                                                   "model": {"learner": "protonet"}}))
    b = fake_run(tmp_path / "b", 1, results=[{**ROWS[0], "learner": "pretrain", "accuracy": 66.0}])
    (b / "config.yaml").write_text(yaml.safe_dump({"data": {"image_size": 28}, "train": {"seed": 1, "episodes": 600},
                                                   "model": {"learner": "pretrain"},
                                                   "pretrain": {"batch_size": 64}}))
    assert run_settings(a) == {"image_size": 84, "seed": 7, "budget": "2,000 episodes"}
    assert run_settings(b)["budget"] == "600 steps of 64 images"
    rows = collect_results([a, b])
    columns, lines = pivot(rows, {"a": run_settings(a), "b": run_settings(b)})
    # fashion_mnist 5w1s was measured over 200 and 600 episodes: two columns, named apart
    assert columns == ["fashion_mnist/test 5w1s (q15, 200 ep.)", "fashion_mnist/test 5w1s (q15, 600 ep.)",
                       "tiny/test 5w1s", "tiny/test 5w5s", "tiny/test 10w1s", "tiny/test 10w5s"]
    by = {(x["run"], x["model"], x["method"]): x for x in lines}
    assert set(by) == {("a", "best", "inductive"), ("a", "untrained", "inductive"), ("a", "best", "tim"),
                       ("b", "best", "inductive")}
    best = by[("a", "best", "inductive")]
    assert best["tiny/test 10w5s"] == (63.125, 0.4) and best["fashion_mnist/test 5w1s (q15, 200 ep.)"] == (52.25, 0.7)
    assert by[("a", "best", "tim")].get("tiny/test 5w1s") is None and by[("a", "best", "tim")]["tiny/test 5w5s"]
    assert by[("b", "best", "inductive")]["learner"] == "pretrain"
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "both")]) == 0
    out = capsys.readouterr().out
    md = (tmp_path / "both.md").read_text()
    head = "| run | learner | backbone | weights | method | image size | seed | training budget | "
    assert head in out and head in md
    assert "| a | protonet | conv4 | best | inductive | 84 | 7 | 2,000 episodes | 52.25 ± 0.70 | 50.50 ± 0.90 |" in md
    assert "| b | pretrain | conv4 | best | inductive | 28 | 1 | 600 steps of 64 images |  |  | 66.00 ± 0.81 |" in md
    pivot_rows = list(csv.DictReader((tmp_path / "both_pivot.csv").open()))
    assert len(pivot_rows) == 4 and float(pivot_rows[0]["tiny/test 10w5s acc"]) == 63.125
