"""`fewshot data build|show NAME` (glyphs) and `fewshot data prepare NAME --root PATH` (the rest)."""

from __future__ import annotations

from ..config import ConfigError
from .prepare import add_prepare_args, cmd_prepare


def add_parser(sub) -> None:
    d = sub.add_parser("data", help="build or look at a data set")
    d.add_argument("action", choices=["build", "show", "prepare"],
                   help="build/show: the glyphs benchmark; prepare: decode any other data set into the cache")
    d.add_argument("name", help="data set name (glyphs, miniimagenet, cub, fashion_mnist, ...)")
    d.add_argument("--root", help="data directory (default $FEWSHOT_DATA or ~/.cache/fewshot)")
    d.add_argument("--image-size", type=int, help="image side (default: the data set's usual one)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--force", action="store_true", help="rebuild even if cached")
    d.add_argument("--out", default="glyphs.png", help="PNG written by `show`")
    add_prepare_args(d)
    d.set_defaults(func=cmd_data)


def cmd_data(args) -> int:
    from ..data.glyphs import build_glyphs, show_glyphs

    if args.action == "prepare" and args.name != "glyphs":
        return cmd_prepare(args)
    args.image_size = args.image_size or 28
    if args.name != "glyphs":
        raise ConfigError(f"`fewshot data {args.action}` knows only 'glyphs' so far, not {args.name!r}")
    if args.action in ("build", "prepare"):
        path = build_glyphs(root=args.root, image_size=args.image_size, seed=args.seed,
                            force=args.force)
        print(f"glyphs ready in {path}")
    else:
        out = show_glyphs(args.out, root=args.root, image_size=args.image_size, seed=args.seed)
        print(f"wrote {out}")
    return 0


