"""`fewshot data build|show NAME` and `fewshot data prepare NAME --root PATH`.

``build`` makes the glyphs benchmark; ``prepare`` decodes any other data set into the cache;
``show`` draws sample images of any registered data set (glyphs: a sheet per alphabet).
"""

from __future__ import annotations

import argparse
import inspect
import os

from ..config import ConfigError
from .options import parse_key_values
from .prepare import add_prepare_args, cmd_prepare

_LISTING = "\x00datasets\x00"  # replaced by the registered data sets when the help is printed


def datasets_listing() -> str:
    """The registered data sets (built-in and plug-in), one line each: splits, test split and
    default image size, read from :data:`fewshot.data.registry.DATASETS`."""
    from ..data import DATASETS, dataset_splits, default_test_split  # registers the built-ins
    from ..registry import import_plugins

    try:  # the help is printed before the command loads FEWSHOT_PLUGINS: their data sets too
        import_plugins(os.environ.get("FEWSHOT_PLUGINS", "").split(","))
    except ValueError:
        pass  # a bad plug-in is reported when a command runs
    lines = ["data sets (name: splits, the novel-class split marked *; default image size):"]
    for name in DATASETS.names():
        test = default_test_split(name)
        try:
            splits = ", ".join(f"{s}*" if s == test else s for s in dataset_splits(name))
        except (KeyError, TypeError, ValueError):  # splits chosen by an option (e.g. split_scheme)
            splits = f"set by its options (novel classes: {test})"
        size = inspect.signature(DATASETS.get(name)).parameters.get("image_size")
        size = f"; {size.default} px" if size is not None and isinstance(size.default, int) else ""
        lines.append(f"  {name}: {splits}{size}")
    return "\n".join(lines)


class _DataHelp(argparse.RawDescriptionHelpFormatter):
    """Fills in the data set list only when the help is printed (no data import at start-up)."""

    def add_text(self, text):
        super().add_text(datasets_listing() if text == _LISTING else text)


def add_parser(sub) -> None:
    d = sub.add_parser("data", help="build, prepare or look at a data set", epilog=_LISTING,
                       formatter_class=_DataHelp)
    d.add_argument("action", choices=["build", "show", "prepare"],
                   help="build: the glyphs benchmark; prepare: decode any other data set into the cache; "
                        "show: draw sample images of any data set")
    d.add_argument("name", help="data set name (listed below; plug-ins through FEWSHOT_PLUGINS)")
    d.add_argument("--root", help="data directory (default $FEWSHOT_DATA or ~/.cache/fewshot)")
    d.add_argument("--image-size", type=int, help="image side (default: the data set's, listed below)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--force", action="store_true", help="rebuild even if cached")
    d.add_argument("--out", help="PNG written by `show` (default NAME.png)")
    s = d.add_argument_group("show")
    s.add_argument("--classes", type=int, default=8, help="classes drawn by `show` (one row each)")
    s.add_argument("--per-class", type=int, default=6, help="images per class drawn by `show`")
    add_prepare_args(d)
    d.set_defaults(func=cmd_data)


def cmd_data(args) -> int:
    from ..data import DATASETS
    from ..data.glyphs import build_glyphs, show_glyphs
    from ..data.show import show_dataset

    if args.name not in DATASETS:
        raise ConfigError(f"unknown data set {args.name!r}; registered: {', '.join(DATASETS.names())} "
                          "(your own: @register_dataset in a module named by FEWSHOT_PLUGINS)")
    if args.action == "prepare" and args.name != "glyphs":
        return cmd_prepare(args)
    if args.action == "show":
        out = args.out or f"{args.name}.png"
        if args.name == "glyphs" and not args.split and not args.option:
            out = show_glyphs(out, root=args.root, image_size=args.image_size or 28, seed=args.seed)
        else:
            if len(args.split) > 1:
                raise ConfigError(f"`fewshot data show` draws one split; got --split {' --split '.join(args.split)}")
            options = parse_key_values(args.option, "--option", "split_scheme=lake")
            if args.channels is not None:
                options["channels"] = args.channels
            if args.cache_dir is not None and DATASETS.info(args.name).get("cached"):
                options["cache_dir"] = args.cache_dir
            if args.name == "glyphs":
                options["seed"] = args.seed
            out = show_dataset(args.name, out, split=args.split[0] if args.split else None, root=args.root,
                               image_size=args.image_size, seed=args.seed, n_classes=args.classes,
                               per_class=args.per_class, options=options)
        print(f"wrote {out}")
        return 0
    if args.name != "glyphs":
        raise ConfigError(f"`fewshot data build` makes the glyphs benchmark; decode {args.name!r} into the "
                          f"cache with `fewshot data prepare {args.name} --root PATH`")
    path = build_glyphs(root=args.root, image_size=args.image_size or 28, seed=args.seed, force=args.force)
    print(f"glyphs ready in {path}")
    return 0
