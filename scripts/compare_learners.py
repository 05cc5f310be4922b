"""Train every learner config on glyphs with one training budget; print a Markdown results table.

    python scripts/compare_learners.py [--episodes 2000] [--eval-episodes 1000]
                                       [--configs configs/glyphs_maml.yaml ...] [--out-dir runs/compare]
                                       [--set train.threads=2 ...] [--reuse]

Every config (default: ``configs/glyphs_<name>.yaml`` for each registered learner name, e.g.
glyphs_protonet, glyphs_maml, glyphs_pretrain; variants such as glyphs_protonet_icnn.yaml can be
added with ``--configs``) is trained by ``fewshot train`` in a subprocess
with the same ``train.episodes`` (an episode for episodic learners, a batch of
``pretrain.batch_size`` images for ``pretrain``) and evaluated on 5-way 1-shot and 5-shot test
episodes (15 queries, ``--eval-episodes`` episodes, same seed for everyone) from its best
validation checkpoint. Each table row gives the mean accuracy with its 95% confidence interval
and the exact command that produced it. The table also goes to ``OUT_DIR/compare.md`` (a table of
other arguments already there is kept; see ``comparelib.write_summary``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import comparelib  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


HOUSEKEEPING = ["eval.untrained_baseline=false", "train.progress=false"]  # no effect on the results


def settings(episodes: int, eval_episodes: int, extra: List[str]) -> List[str]:
    """The overrides that decide a row's numbers (the same for every config)."""
    return [f"train.episodes={episodes}", "eval.n_way=5", "eval.shots=[1,5]", "eval.n_query=15",
            f"eval.episodes={eval_episodes}", *extra]


def shown_command(config: Path, overrides: List[str]) -> str:
    """``fewshot train CONFIG`` plus the overrides that change something in that config."""
    from fewshot.config import load_config

    base = load_config(config).to_dict()
    kept = [o for o in overrides if load_config(config, [o]).to_dict() != base]
    return "fewshot train " + " ".join(shlex.quote(a) for a in [_shown_path(config), *kept])


def _shown_path(path: Path) -> str:
    """Relative to the working directory when below it (shorter commands in the table)."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def read_results(run_dir: Path, eval_episodes: int) -> Dict[int, Dict]:
    """{k_shot: result row} for the 5-way test results of the best checkpoint."""
    path = run_dir / "results.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    return {r["k_shot"]: r for r in rows if r.get("model") == "best" and r.get("n_way") == 5
            and r.get("episodes") == eval_episodes and r.get("n_query") == 15}


def run_one(config: Path, args, extra: List[str]) -> Dict:
    overrides = settings(args.episodes, args.eval_episodes, extra)
    shown = shown_command(config, overrides)
    run_dir = args.out_dir / config.stem
    results = read_results(run_dir, args.eval_episodes) if args.reuse else {}
    record = run_dir / "compare.json"  # train time of an earlier run, for --reuse
    seconds = json.loads(record.read_text())["seconds"] if results and record.is_file() else None
    if {1, 5} - set(results):
        if (run_dir / "checkpoints").exists():
            sys.exit(f"{run_dir} already holds a run: pass --reuse to keep its results, or remove it")
        argv = ["train", _shown_path(config), *overrides, *HOUSEKEEPING,
                f"run.out_dir={_shown_path(args.out_dir)}", f"run.name={config.stem}"]
        print(f"== {shown}", flush=True)
        start = time.perf_counter()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.Popen([sys.executable, "-m", "fewshot", *argv], text=True, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = []
        for line in proc.stdout:  # streamed: validation lines show while a run trains
            print("   " + line, end="", flush=True)
            output.append(line)
        if proc.wait() != 0:
            sys.exit(f"{config.name} failed (exit {proc.returncode}); output above")
        found = re.search(r"trained \d+ episodes in (\d+) s", "".join(output))
        seconds = float(found.group(1)) if found else time.perf_counter() - start
        comparelib.write_json(record, {"seconds": seconds, "command": shown})
        results = read_results(run_dir, args.eval_episodes)
    learner = yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["learner"]
    return {"config": config, "learner": learner, "results": results, "seconds": seconds, "command": shown}


def default_configs() -> List[Path]:
    """``configs/glyphs_<name>.yaml`` for every registered learner that has one."""
    from fewshot.learners import LEARNERS

    found = [REPO / "configs" / f"glyphs_{name}.yaml" for name in LEARNERS]
    missing = [p.name for p in found if not p.is_file()]
    if missing:
        print(f"no config for: {', '.join(missing)} (skipped)", file=sys.stderr)
    return [p for p in found if p.is_file()]


def cell(row: Optional[Dict]) -> str:
    return "n/a" if row is None else f"{row['accuracy']:.2f} ± {row['ci95']:.2f}"


def table(rows: List[Dict], episodes: int, eval_episodes: int) -> str:
    lines = [f"Glyphs, 5-way, 15 queries, {eval_episodes} test episodes, mean accuracy (%) ± 95% CI; "
             f"every learner trained for {episodes} episodes (pretrain: {episodes} batches).", "",
             "| learner | config | 1-shot | 5-shot | training time (s) | command |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        secs = "-" if r["seconds"] is None else f"{r['seconds']:.0f}"
        lines.append(f"| {r['learner']} | {r['config'].name} | {cell(r['results'].get(1))} | "
                     f"{cell(r['results'].get(5))} | {secs} | `{r['command']}` |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=2000, help="training budget for every learner (default 2000)")
    p.add_argument("--eval-episodes", type=int, default=1000, help="test episodes per shot (default 1000)")
    p.add_argument("--configs", nargs="+", type=Path, help="default: configs/glyphs_<learner>.yaml per learner")
    p.add_argument("--out-dir", type=Path, default=Path("runs/compare"), help="run folders and compare.md")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every run")
    p.add_argument("--reuse", action="store_true", help="keep results already in OUT_DIR instead of retraining")
    args = p.parse_args(argv)
    if args.episodes < 1 or args.eval_episodes < 1:
        p.error("--episodes and --eval-episodes must be >= 1")
    configs = args.configs or default_configs()
    rows = [run_one(Path(c), args, list(args.set)) for c in configs]
    text = table(rows, args.episodes, args.eval_episodes)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    chosen = {"episodes": args.episodes, "eval_episodes": args.eval_episodes, "set": args.set,
              "configs": [str(c) for c in configs]}
    path = comparelib.write_summary(args.out_dir, "compare", chosen, text,
                                    [dict(r, config=str(r["config"])) for r in rows])
    print(text + f"\n(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
