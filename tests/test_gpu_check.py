"""scripts/gpu_check.py stays runnable: its --smoke mode runs every code path on the CPU."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_smoke_runs_every_path(tmp_path):
    out = tmp_path / "rows.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_check.py"), "--smoke", "--out", str(out)],
                          env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 12  # 2 backbones x 3 precision settings x host / device input
    assert {r["input"] for r in rows} == {"host", "device"} and all(r["ours_eps"] > 0 for r in rows)
