"""Command line: ``fewshot train | eval | data ...`` (one module per command in ``commands/``).

Known mistakes (bad config, missing data, unreadable checkpoint, diverging loss) end with a
one-paragraph message and exit status 2, never a bare traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .commands import COMMANDS
from .config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fewshot", description="Episodic few-shot learning for PyTorch.")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from .engine.checkpoint import CheckpointError
    from .engine.trainer import TrainingError

    try:
        return args.func(args)
    except (ConfigError, CheckpointError, TrainingError, ValueError, FileNotFoundError) as err:
        print(f"fewshot: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fewshot: interrupted; the last checkpoint (if any) is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
