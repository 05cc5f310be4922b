"""`fewshot train CONFIG [key=value ...]` and `fewshot train --resume RUN_DIR`.

Under torchrun (``torchrun --nproc_per_node P -m fewshot train ...``) every process runs this
command; rank 0 alone prints and writes. ``--nproc P`` starts torchrun for one machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from ..config import ConfigError, load_config
from ..runs.lock import LOCK_NAME, run_lock


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a learner from a YAML config")
    t.add_argument("config", nargs="?", help="YAML file in configs/")
    t.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.n_way=20")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    t.add_argument("--no-eval", action="store_true", help="skip the final test evaluation")
    t.add_argument("--nproc", type=int, default=0, metavar="P",
                   help="train data-parallel on P processes of this machine (runs torchrun --standalone; "
                        "one GPU each with train.device=cuda, else CPU processes with gloo)")
    t.set_defaults(func=cmd_train, train_parser=t)


def _launch(args) -> int:
    """Run this command again under ``torch.distributed.run`` with ``--nproc`` processes."""
    if args.nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {args.nproc}")
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise ConfigError("--nproc starts torchrun itself; drop it when the command already runs under torchrun")
    argv = []
    for action in args.train_parser._actions:  # every option the user gave, except --nproc
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest in ("nproc", "help") or value == action.default:
            continue
        values = value if isinstance(value, (list, tuple)) else [] if action.nargs == 0 else [value]
        argv += [action.option_strings[-1], *map(str, values)]
    argv += ([args.config] if args.config is not None else []) + list(args.overrides)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           str(args.nproc), "-m", "fewshot", "train", *argv]
    print("launching:", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def _run_dir(cfg, config_path: Optional[str]) -> Path:
    """``run.out_dir/run.name``; the default name is ``<config stem>-<time>-<random>``, unique
    even for runs started in the same second."""
    stem = Path(config_path).stem if config_path else "run"
    name = cfg.run.name or f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    return Path(cfg.run.out_dir) / name


def absolute_data_root(cfg) -> None:
    """Store ``data.root`` as an absolute path, so the run can be evaluated from any folder."""
    if cfg.data.root:
        cfg.data.root = str(Path(cfg.data.root).expanduser().resolve())


def check_model_keys(cfg) -> None:
    """Refuse ``model.distance`` / ``model.learn_scale`` set away from their defaults for a learner
    that does not take them (its registration's ``model_keys``): they would be recorded and
    ignored. Checked for new runs only, so existing runs still load."""
    from ..config import ModelConfig
    from ..learners import LEARNERS

    if cfg.model.learner not in LEARNERS:
        return  # refused later with the list of learners
    used = LEARNERS.info(cfg.model.learner).get("model_keys", ())
    for key in ("distance", "learn_scale"):
        if key not in used and getattr(cfg.model, key) != getattr(ModelConfig(), key):
            takes = sorted(n for n in LEARNERS if key in LEARNERS.info(n).get("model_keys", ()))
            raise ConfigError(f"learner {cfg.model.learner!r} does not use model.{key} (set to "
                              f"{getattr(cfg.model, key)!r}); leave it unset, or choose a learner that uses it "
                              f"({', '.join(takes) or 'none registered'})")


def check_final_eval(cfg) -> None:
    """Draw the final evaluation's sampler on the test split once, before training, so settings
    the split cannot give (more ways than classes, too few images per class) are refused at the
    start with the config keys to change."""
    from ..data.registry import load_from_config
    from ..engine.trainer import episode_error
    from ..runs.episodes import build_sampler

    split = load_from_config(cfg.data, cfg.data.test_split)
    e = cfg.eval
    for k in e.shots if e.episode_kind == "fixed" else [None]:
        try:
            build_sampler(e, split, 1, e.seed, k_shot=k, advance_epoch=False, prefix="eval")
        except ValueError as err:
            if e.episode_kind != "fixed":
                raise
            raise episode_error(err, split, "eval", e.n_way, k, e.n_query) from None


def _command_line(args) -> list:
    """``["fewshot", "train", ...]``: the options given (not their defaults), CONFIG, overrides."""
    argv = ["fewshot", "train"]
    for action in args.train_parser._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest == "help" or value == action.default:
            continue
        argv += [action.option_strings[-1]] + ([] if action.nargs == 0 else [str(value)])
    return argv + ([args.config] if args.config is not None else []) + list(args.overrides)


def _first_missing(path: Path) -> Optional[Path]:
    """The outermost of ``path`` and its parents that does not exist yet (None if ``path`` exists)."""
    path = Path(path).absolute()
    if path.exists():
        return None
    while not path.parent.exists() and path.parent != path:
        path = path.parent
    return path


def _remove_empty_tree(folder: Path) -> None:
    """Remove ``folder`` if it holds no file at all (only empty folders and our own writer lock,
    :data:`~fewshot.runs.lock.LOCK_NAME`); else leave it be."""
    if not folder.is_dir() or any(not p.is_dir() and p.name != LOCK_NAME for p in folder.rglob("*")):
        return
    for sub in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        sub.rmdir() if sub.is_dir() else sub.unlink()
    folder.rmdir()


def cmd_train(args) -> int:
    if getattr(args, "nproc", 0):
        return _launch(args)
    from ..runs import ranks

    code = None
    try:
        with contextlib.ExitStack() as held:
            code = _train(args, ranks, held)
        return code
    finally:
        ranks.cleanup(finished=code == 0)


def _train(args, dist, held: contextlib.ExitStack) -> int:
    from ..engine.pretrain import pretrain
    from ..engine.trainer import train
    from ..evaluation.run_eval import evaluate_run
    from ..learners import LEARNERS
    from ..reporting import collect_results, plot_learning_curves, write_report
    from ..runs.records import note_invocation, tensorboard_results

    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").is_file():
            if run_dir.is_dir() and not (run_dir / "checkpoints" / "last.pt").exists():
                raise ConfigError(f"cannot resume: {str(run_dir)!r} has no config.yaml: the run stopped before "
                                  "it wrote one (in its first seconds). Nothing is lost: start it again with "
                                  "`fewshot train CONFIG run.name=...`")
            raise ConfigError(f"cannot resume: {str(run_dir)!r} has no config.yaml (is it a run folder?)")
        overrides = list(args.overrides)
        if args.config is not None:  # argparse takes the first override for CONFIG
            if "=" not in args.config:
                raise ConfigError(f"--resume continues with the run's own config.yaml; drop {args.config!r} "
                                  "(only key=value overrides may follow)")
            overrides.insert(0, args.config)
        cfg = load_config(run_dir / "config.yaml", overrides)
    else:
        if args.config is None:
            raise ConfigError("fewshot train needs a CONFIG file (see configs/) or --resume RUN_DIR")
        cfg = load_config(args.config, args.overrides)
        check_model_keys(cfg)
        absolute_data_root(cfg)
        run_dir = _run_dir(cfg, args.config)
    cfg.train.device = dist.init(cfg.train.device)  # joins torchrun's process group, if any
    run_dir = dist.broadcast_object(run_dir)  # rank 0's (the name may hold the clock)
    main = dist.is_main()
    created = _first_missing(run_dir) if main and not args.resume else None  # before the lock makes it
    # one writer per run folder, for the whole command (training and the final evaluation)
    held.enter_context(run_lock(run_dir, "fewshot train" + (" --resume" if args.resume else ""), enabled=main))
    if not args.resume and (run_dir / "checkpoints" / "last.pt").exists():
        raise ConfigError(f"run folder {str(run_dir)!r} already holds a run; resume it with "
                          f"--resume {run_dir} or choose another run.name")
    say = print if main else (lambda *a, **k: None)  # rank 0 speaks for all
    say(f"run folder: {run_dir}")
    training = LEARNERS.info(cfg.model.learner).get("training", "episodic") if cfg.model.learner in LEARNERS \
        else "episodic"  # an unknown learner is refused by train() with the list of names
    trainer = pretrain if training == "batches" else train  # as the learner declared itself
    note_invocation(_command_line(args), list(args.overrides))  # for run.json
    try:
        if not args.no_eval:
            check_final_eval(cfg)  # impossible eval settings fail now, not after the training
        result = trainer(cfg, run_dir, resume=bool(args.resume))
    except BaseException:
        if created is not None:  # a failed start (unknown backbone, too many ways) leaves nothing
            _remove_empty_tree(created)
        raise
    say(f"trained {result.episodes} episodes in {result.seconds:.0f} s"
          + (f"; best validation accuracy {100 * result.best_val:.2f}%" if result.best_val else ""))
    curves = plot_learning_curves([run_dir], run_dir / "plots" / "learning_curves.png") if main else None
    if args.no_eval:
        say(f"learning curves: {curves}")
        return 0
    lines = []
    models = [False, True] if cfg.eval.untrained_baseline else [False]
    for untrained in models:
        for res in evaluate_run(run_dir, untrained=untrained, progress=cfg.train.progress):
            lines.append(f"  {'untrained' if untrained else 'trained  '}  {res}")
    say("evaluation (results.json and eval/ in the run folder):")
    say("\n".join(lines))
    if not main:
        return 0
    md, table = write_report([run_dir], run_dir / "report")
    if cfg.train.tensorboard:  # hparams (the resolved config) and the final test results
        tensorboard_results(run_dir / "tensorboard", cfg.to_dict(), collect_results([run_dir]), result.episodes)
    say(f"learning curves: {curves}")
    say(f"results table:   {md} (and {table.name})")
    return 0


