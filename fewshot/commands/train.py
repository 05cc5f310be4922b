"""`fewshot train CONFIG [key=value ...]` and `fewshot train --resume RUN_DIR`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from ..config import ConfigError, load_config


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a learner from a YAML config")
    t.add_argument("config", nargs="?", help="YAML file in configs/")
    t.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.n_way=20")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    t.add_argument("--no-eval", action="store_true", help="skip the final test evaluation")
    t.set_defaults(func=cmd_train)


def _run_dir(cfg, config_path: Optional[str]) -> Path:
    name = cfg.run.name or f"{Path(config_path).stem if config_path else 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Path(cfg.run.out_dir) / name


def cmd_train(args) -> int:
    from ..engine.trainer import train
    from ..evaluation.run_eval import evaluate_run

    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").is_file():
            raise ConfigError(f"cannot resume: {str(run_dir)!r} has no config.yaml (is it a run folder?)")
        cfg = load_config(run_dir / "config.yaml", args.overrides)
    else:
        if args.config is None:
            raise ConfigError("fewshot train needs a CONFIG file (see configs/) or --resume RUN_DIR")
        cfg = load_config(args.config, args.overrides)
        run_dir = _run_dir(cfg, args.config)
        if (run_dir / "checkpoints" / "last.pt").exists():
            raise ConfigError(f"run folder {str(run_dir)!r} already holds a run; resume it with "
                              f"--resume {run_dir} or choose another run.name")
    print(f"run folder: {run_dir}")
    result = train(cfg, run_dir, resume=bool(args.resume))
    print(f"trained {result.episodes} episodes in {result.seconds:.0f} s"
          + (f"; best validation accuracy {100 * result.best_val:.2f}%" if result.best_val else ""))
    if args.no_eval:
        return 0
    lines = []
    models = [False, True] if cfg.eval.untrained_baseline else [False]
    for untrained in models:
        for res in evaluate_run(run_dir, untrained=untrained, progress=cfg.train.progress):
            lines.append(f"  {'untrained' if untrained else 'trained  '}  {res}")
    print("evaluation (results.json and eval/ in the run folder):")
    print("\n".join(lines))
    return 0


