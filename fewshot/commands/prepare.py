"""`fewshot data prepare NAME --root PATH`: decode a data set once into the uint8 cache.

Wired into ``fewshot data`` (see :mod:`fewshot.commands.data`); training and evaluation then
memory-map the cache and never decode an image again.
"""

from __future__ import annotations

from .options import parse_key_values


def add_prepare_args(d) -> None:
    """Arguments of the ``prepare`` action, added to the ``fewshot data`` parser."""
    g = d.add_argument_group("prepare (any data set but glyphs)")
    g.add_argument("--split", action="append", default=[],
                   help="split to prepare, repeatable (default: all splits of the data set)")
    g.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="loader option, repeatable: layout=pickle, split_scheme=vinyals, crop=center, ...")
    g.add_argument("--channels", type=int, choices=(1, 3),
                   help="1 = grey, 3 = RGB (default: the data's own: grey for omniglot, fashion_mnist, glyphs "
                        "and an imagefolder of grey images, RGB for the others)")
    g.add_argument("--skip-corrupt", action="store_true",
                   help="leave out images that cannot be decoded (counted and listed in the manifest)")
    g.add_argument("--workers", type=int, default=0, help="decoding threads (0 = one per core, up to 8)")
    g.add_argument("--cache-dir", help="cache root (default <data dir>/cache)")


def cmd_prepare(args) -> int:
    """Build (or verify) the cache of every requested split and print one line per split."""
    from ..data.registry import dataset_splits, load_split

    options = parse_key_values(args.option, "--option", "split_scheme=lake")
    for key, value in (("channels", args.channels), ("cache_dir", args.cache_dir)):
        if value is not None:
            options[key] = value
    options.update(skip_corrupt=args.skip_corrupt, workers=args.workers, rebuild=args.force,
                   progress=True)
    splits = args.split or list(dataset_splits(args.name, options))
    for split in splits:
        kwargs = dict(options)
        if args.image_size is not None:
            kwargs["image_size"] = args.image_size
        data = load_split(args.name, split, root=args.root, **kwargs)
        shape = "x".join(str(s) for s in data.images.shape[1:])
        skipped = data.meta.get("n_skipped", 0)
        print(f"{data.name}: {len(data)} images, {data.num_classes} classes, {shape} uint8"
              f"{f', {skipped} skipped' if skipped else ''} -> {data.meta.get('cache')}")
    return 0
