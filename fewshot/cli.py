"""Command line: ``fewshot train | eval | data | plot | report ...`` (one module per command in
``commands/``).

Known mistakes (bad config, missing data, unreadable checkpoint, diverging loss, a full disk) end
with a one-paragraph message and exit status 2, never a bare traceback; anything else is a bug
and keeps its traceback.

``FEWSHOT_PLUGINS=pkg.module[,other]`` imports those modules first, so data sets and learners
registered there (``@register_dataset``, ...) can be named in configs.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import warnings
from typing import List, Optional

from . import __version__
from .commands import COMMANDS
from .config import ConfigError
from .configs_lookup import find_config, list_configs
from .registry import import_plugins

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fewshot", description="Episodic few-shot learning for PyTorch.")
    p.add_argument("--version", action="version", version=f"fewshot {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    listing = sub.add_parser("configs", help="list the shipped configs (give one to `train` by name)")
    listing.set_defaults(func=_print_configs)
    return p


def _print_configs(args: argparse.Namespace) -> int:
    for name in list_configs():
        print(name)
    return 0


def _resolve_config_names(args: argparse.Namespace) -> None:
    """``train NAME`` and ``benchmark --grid NAME`` take a shipped config's name as well as a path."""
    config = getattr(args, "config", None)
    if args.command == "train" and config is not None and "=" not in config and not args.resume:
        args.config = str(find_config(config))
    if args.command == "benchmark" and getattr(args, "grid", None):
        args.grid = str(find_config(args.grid))


def load_plugins(spec: Optional[str] = None) -> List[str]:
    """Import the comma-separated modules of ``spec`` (default ``$FEWSHOT_PLUGINS``)."""
    spec = os.environ.get("FEWSHOT_PLUGINS", "") if spec is None else spec
    try:
        return import_plugins(spec.split(","))
    except ValueError as err:
        raise ConfigError(str(err)) from None


def one_paragraph(err: BaseException) -> str:
    """The error's message as one paragraph: its lines without blank ones (a list of expected
    files, a YAML error's pointer keep their lines)."""
    lines = [line.rstrip() for line in str(err).splitlines() if line.strip()]
    return "\n".join(lines) or type(err).__name__


def _no_space_message(err: OSError) -> str:
    where = f" while writing {err.filename}" if err.filename else ""
    return (f"no space left on the device{where}. Free some space (old runs, the data cache) or "
            "point run.out_dir elsewhere, then continue with `fewshot train --resume RUN_DIR`: the "
            "last complete checkpoint is kept (writes are atomic)")


#: errno -> what to do, for file-system errors that are the user's to fix (others are bugs)
_OS_FIXES = {
    errno.EACCES: "check the folder's permissions, or write elsewhere (run.out_dir; `fewshot eval --out DIR`)",
    errno.EPERM: "check the folder's permissions, or write elsewhere (run.out_dir; `fewshot eval --out DIR`)",
    errno.EROFS: "the file system is read-only; write elsewhere (run.out_dir; `fewshot eval --out DIR`)",
    errno.ENAMETOOLONG: "choose a shorter run.name or run.out_dir",
    errno.ENOTDIR: "a file stands where a folder is needed; move it or choose another run.out_dir",
    errno.EEXIST: "a file stands where a folder is needed; move it or choose another run.out_dir",
    errno.EISDIR: "a folder stands where a file is needed; move it",
}


def _os_message(err: OSError):
    """A one-paragraph message naming the path, for the errors of :data:`_OS_FIXES`; else None."""
    fix = _OS_FIXES.get(err.errno)
    if fix is None:
        return None
    where = f" {err.filename}" + (f" -> {err.filename2}" if err.filename2 else "") if err.filename else ""
    return f"cannot use{where}: {err.strerror or os.strerror(err.errno)}; {fix}"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Like ``parse_args``, but ``key=value`` overrides may also follow options
    (``fewshot train c.yaml --no-eval train.lr=0.01``), which argparse alone refuses; the config
    loader then checks their form."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and not any(e.startswith("-") for e in extra):
            args.overrides = [*(args.overrides or []), *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def setup_logging(route_warnings: bool = True) -> None:
    """``fewshot.*`` loggers print plain lines on stdout (time, message); with
    ``route_warnings``, Python warnings go through the same logger as one line, without the source
    line that ``warnings`` adds (the command line does this; ``main([...])`` called from Python
    code leaves the caller's warning handling alone)."""
    logger = logging.getLogger("fewshot")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    def show(message, category, filename, lineno, file=None, line=None):
        logging.getLogger("fewshot.warnings").warning("warning: %s", message)

    if route_warnings:
        warnings.showwarning = show


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    setup_logging(route_warnings=argv is None)  # the console script / python -m fewshot
    from .engine.trainer import TrainingError
    from .runs.checkpoint import CheckpointError

    try:
        load_plugins()
        _resolve_config_names(args)
        return args.func(args)
    except (ConfigError, CheckpointError, TrainingError, ValueError, FileNotFoundError) as err:
        print(f"fewshot: error: {one_paragraph(err)}", file=sys.stderr)
        return 2
    except OSError as err:
        message = _no_space_message(err) if err.errno in _NO_SPACE else _os_message(err)
        if message is None:
            raise
        print(f"fewshot: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fewshot: interrupted; the last checkpoint (if any) is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
