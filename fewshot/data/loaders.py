"""Register every built-in data set loader by name (imported lazily by the registry).

| name | layout | splits |
| --- | --- | --- |
| miniimagenet | images + Ravi CSVs, Ren pickles, raw ImageNet + CSVs | train, val, test |
| tieredimagenet | PNG pickles, npz | train, val, test |
| cub | CUB_200_2011/images, Closer Look or 140/30/30 | base, val, novel / train, valid, test |
| omniglot | images_background + images_evaluation | lake, vinyals, alphabet schemes |
| cifar_fs, fc100 | one pickle per split | train, val, test |
| eurosat, cropdisease, isic, chestx | BSCD-FSL targets | test |
| fashion_mnist | idx files | test, train, all |
| imagefolder | root/<class>/<image> | all, or a sub-folder name |
| filelist | Closer Look JSON lists | the list's name |
"""

from __future__ import annotations

from typing import Optional, Tuple

from .bscd import load_chestx, load_cropdisease, load_eurosat, load_isic
from .cifar import load_cifar_fs, load_fc100
from .cub import load_cub
from .fashion_mnist import load_fashion_mnist
from .folder import load_filelist, load_image_folder
from .miniimagenet import load_miniimagenet
from .omniglot import load_omniglot
from .registry import LOADERS
from .tieredimagenet import load_tieredimagenet

BUILTIN = {
    "miniimagenet": load_miniimagenet, "tieredimagenet": load_tieredimagenet, "cub": load_cub,
    "omniglot": load_omniglot, "cifar_fs": load_cifar_fs, "fc100": load_fc100,
    "eurosat": load_eurosat, "cropdisease": load_cropdisease, "isic": load_isic,
    "chestx": load_chestx, "fashion_mnist": load_fashion_mnist, "imagefolder": load_image_folder,
    "filelist": load_filelist,
}

for _name, _fn in BUILTIN.items():
    LOADERS.setdefault(_name, _fn)  # a user's own loader registered under the same name wins


def default_splits(name: str, options: Optional[dict] = None) -> Tuple[str, ...]:
    """Every split of built-in data set ``name`` (for ``fewshot data prepare``), given its options."""
    o = options or {}
    if name == "cub":
        return {"closer_look": ("base", "val", "novel"),
                "meta_dataset": ("train", "valid", "test")}[o.get("split_scheme", "closer_look")]
    if name == "omniglot":
        return {"auto": ("background", "evaluation"), "lake": ("background", "evaluation"),
                "vinyals": ("train", "val", "test"),
                "alphabet": ("train", "valid", "test")}[o.get("split_scheme", "auto")]
    if name in ("eurosat", "cropdisease", "isic", "chestx", "fashion_mnist"):
        return ("test",)
    if name in ("imagefolder",):
        return ("all",)
    if name == "filelist":
        return ("base", "val", "novel")
    return ("train", "val", "test")
