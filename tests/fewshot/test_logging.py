"""Output people read: piped to a file, training writes plain log lines, no progress bars."""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402


def test_piped_training_writes_one_plain_line_per_log_every(tmp_path):
    cfg = tiny_run.write_config(tmp_path)
    out = subprocess.run(tiny_run.fewshot_command(
        "train", str(cfg), f"run.out_dir={tmp_path}", "run.name=piped", "train.episodes=20", "train.log_every=5",
        "train.val_every=10", "train.progress=true", "eval.episodes=3"),
        env=tiny_run.subprocess_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "\r" not in text  # no carriage-return progress lines
    lines = [line for line in out.stdout.splitlines() if "/20  loss" in line]
    assert [line.split()[2] for line in lines] == ["5/20", "10/20", "15/20", "20/20"]
    for line in lines:
        for field in ("loss", "acc", "lr", "episodes/s", "ETA"):
            assert field in line
    assert "episode 10: validation" in out.stdout


def test_warnings_go_through_the_logger_without_source_lines(tmp_path):
    code = ("import warnings; from fewshot.cli import setup_logging; setup_logging(); "
            "warnings.warn('centring needs the base mean')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=tiny_run.subprocess_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("warning: centring needs the base mean")
    assert "warnings.warn" not in out.stdout + out.stderr and "UserWarning" not in out.stdout + out.stderr
