"""Precomputed feature files: ``features`` (N, D), ``labels`` (N,), optional ``domains``."""

import numpy as np
import pytest

from fewshot.data import load_features


def test_load_and_remap(tmp_path):
    feats = np.random.default_rng(0).normal(size=(6, 4))
    np.savez(tmp_path / "emb.npz", features=feats, labels=np.array([10, 3, 10, 7, 3, 7]),
             domains=np.array(["a", "a", "b", "b", "a", "b"]))
    split = load_features(tmp_path / "emb.npz")
    assert split.features.dtype == np.float32 and split.features.shape == (6, 4)
    assert split.class_names == ["3", "7", "10"]
    np.testing.assert_array_equal(split.labels, [2, 0, 2, 1, 0, 1])
    np.testing.assert_allclose(split.features, feats.astype(np.float32))
    b = load_features(tmp_path / "emb.npz", domain="b")
    assert len(b) == 3 and b.name == "features/emb/b"
    np.testing.assert_array_equal(b.labels, [1, 0, 0])  # 10, 7, 7 -> classes 7, 10


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="'features' \\(N, D\\)"):
        load_features(tmp_path / "none.npz")
    np.savez(tmp_path / "x.npz", feats=np.zeros((2, 2)), labels=np.zeros(2))
    with pytest.raises(ValueError, match="lacks \\['features'\\]"):
        load_features(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", features=np.zeros((3, 2)), labels=np.zeros(2))
    with pytest.raises(ValueError, match="must be \\(N, D\\)"):
        load_features(tmp_path / "y.npz")
    np.savez(tmp_path / "z.npz", features=np.array([[np.nan, 0.0]]), labels=np.zeros(1))
    with pytest.raises(ValueError, match="finite"):
        load_features(tmp_path / "z.npz")
    np.savez(tmp_path / "d.npz", features=np.zeros((2, 2)), labels=np.zeros(2))
    with pytest.raises(ValueError, match="no 'domains'"):
        load_features(tmp_path / "d.npz", domain="a")


def test_benchmark_over_a_features_file(tmp_path):
    from fewshot.evaluation.benchmark import evaluate_grid

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (6, 8))
    labels = np.repeat(np.arange(6), 10)
    np.savez(tmp_path / "sep.npz", features=centres[labels] + rng.normal(0, 0.1, (60, 8)), labels=labels)
    np.savez(tmp_path / "noise.npz", features=rng.normal(size=(60, 8)), labels=labels)
    rows = evaluate_grid([tmp_path / "sep.npz", tmp_path / "noise.npz"], [], ways=[5, 7], shots=[1],
                         n_query=3, episodes=200, seed=0)
    assert [(r["run"], r["n_way"]) for r in rows] == [("sep.npz", 5), ("noise.npz", 5)]  # 7 > 6 classes
    assert rows[0]["accuracy"] == 100.0
    assert abs(rows[1]["accuracy"] - 20.0) < 4 * rows[1]["ci95"] + 1  # chance level for 5 ways


def test_markdown_table_shows_episodes_only_when_they_vary():
    from fewshot.evaluation.benchmark import markdown_table

    row = {"run": "r", "learner": "l", "model": "m", "trained_on": "t", "dataset": "d", "n_way": 5,
           "k_shot": 1, "accuracy": 50.0, "ci95": 1.0}
    same = markdown_table([{**row, "episodes": 600}, {**row, "dataset": "e", "episodes": 600}])
    assert "episodes" not in same and "| r | l | m | t | e | 50.00 ± 1.00 |" in same
    mixed = markdown_table([{**row, "episodes": 600}, {**row, "dataset": "e", "episodes": 200}])
    assert "| evaluated on | episodes | 5-way 1-shot |" in mixed and "| e | 200 | 50.00 ± 1.00 |" in mixed
