"""The BSCD-FSL cross-domain targets (Guo et al. 2020): EuroSAT, CropDisease, ISIC 2018, ChestX.

Each is used whole as novel classes (split ``test``; ``all`` and ``novel`` are accepted too).
Protocol: 5-way, 5 / 20 / 50 shots, 15 queries, 600 episodes (``configs/benchmarks/bscd_fsl.yaml``).
Images are squashed to 1.15 S and centre-cropped to S, as BSCD-FSL's test transform does; ChestX
is converted to RGB as there (use ``channels=1`` for grey).

* EuroSAT: ``EuroSAT/2750/<class>/*.jpg`` (10 classes).
* CropDisease: ``dataset/train/<class>/*.jpg`` (38 classes).
* ISIC 2018: ``ISIC2018_Task3_Training_GroundTruth.csv`` (``image`` + one-hot columns MEL, NV, BCC,
  AKIEC, BKL, DF, VASC) and ``ISIC2018_Task3_Training_Input/<image>.jpg`` (7 classes).
* ChestX (NIH ChestX-ray14): ``Data_Entry_2017.csv`` (``Image Index``, ``Finding Labels``) and
  ``images/<Image Index>``; only single-label images of 7 findings are used, as in BSCD-FSL.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, List, Tuple

from .cache import CacheSpec, Collected
from .cache_write import cached_split
from .errors import check_split, first_existing, missing_data
from .options import parse_options
from .registry import register_dataset
from .sources import from_file_lists, image_folder, resolve_root

ALIASES = {"all": "test", "novel": "test"}
CHESTX_CLASSES = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule",
                  "Pneumothorax")
WHERE = {
    "eurosat": "people usually get EuroSAT.zip (RGB, 2750/ folder) from the EuroSAT authors' page.",
    "cropdisease": "people usually get the PlantVillage 'Crop Diseases' archive (Kaggle) used by BSCD-FSL.",
    "isic": "people usually get the ISIC 2018 Task 3 training images and ground truth from the ISIC archive.",
    "chestx": "people usually get the NIH ChestX-ray14 images and Data_Entry_2017.csv from the NIH box.",
}


def _folder(root: Path, dataset: str, candidates: List[str]) -> Path:
    found = first_existing(root, candidates)
    if found is None or not found.is_dir():
        raise missing_data(dataset, root, [f"{c}/<class>/*.jpg" for c in candidates], WHERE[dataset])
    return found


def _isic(root: Path, size: int) -> Tuple[Path, Callable[[], Collected]]:
    csv_path = first_existing(root, ["ISIC2018_Task3_Training_GroundTruth.csv",
                                     "ISIC2018_Task3_Training_GroundTruth/ISIC2018_Task3_Training_GroundTruth.csv"])
    if csv_path is None:
        raise missing_data("isic", root, ["ISIC2018_Task3_Training_GroundTruth/ISIC2018_Task3_Training_"
                                          "GroundTruth.csv", "ISIC2018_Task3_Training_Input/<image>.jpg"],
                           WHERE["isic"])
    images = first_existing(root, ["ISIC2018_Task3_Training_Input"]) or csv_path.parent

    def collect() -> Collected:
        with csv_path.open(newline="") as f:
            rows = list(csv.reader(f))
        classes = [c.strip() for c in rows[0][1:]]
        per: List[List[Path]] = [[] for _ in classes]
        for r in rows[1:]:
            hot = [k for k, v in enumerate(r[1:]) if float(v) == 1.0]
            if len(hot) != 1:
                raise ValueError(f"{csv_path}: row {r[0]} should have exactly one 1.0, got {r[1:]}")
            per[hot[0]].append(images / f"{r[0]}.jpg")
        return from_file_lists(list(zip(classes, per)), size)

    return csv_path, collect


def _chestx(root: Path, size: int) -> Tuple[Path, Callable[[], Collected]]:
    csv_path = first_existing(root, ["Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv"])
    if csv_path is None:
        raise missing_data("chestx", root, ["Data_Entry_2017.csv", "images/<Image Index>.png"],
                           WHERE["chestx"])

    def collect() -> Collected:
        # The NIH archives unpack to images_001/images/..., BSCD-FSL expects one images/ folder.
        where = {p.name: p for p in root.glob("images_*/images/*.png")}
        per = {c: [] for c in CHESTX_CLASSES}
        with csv_path.open(newline="") as f:
            for row in csv.DictReader(f):
                finding = row["Finding Labels"].strip()
                if finding in per:  # single-label rows only ("A|B" never matches)
                    name = row["Image Index"].strip()
                    per[finding].append(root / "images" / name if (root / "images" / name).exists()
                                        else where.get(name, root / "images" / name))
        return from_file_lists([(c, per[c]) for c in CHESTX_CLASSES], size)

    return csv_path, collect


def _load(dataset: str, default_dir: str, split, root, image_size, options):
    opts, _ = parse_options(dataset, options)
    split = check_split(dataset, split, ("test",), ALIASES)
    root = resolve_root(root, default_dir)
    if dataset == "eurosat":
        source = _folder(root, dataset, ["2750", "EuroSAT/2750", "EuroSAT_RGB"])
        collect = lambda: image_folder(source, size_hint=image_size)  # noqa: E731
    elif dataset == "cropdisease":
        source = _folder(root, dataset, ["dataset/train", "CropDiseases/dataset/train", "train"])
        collect = lambda: image_folder(source, size_hint=image_size)  # noqa: E731
    else:
        source, collect = (_isic if dataset == "isic" else _chestx)(root, image_size)
    spec = CacheSpec(dataset, split, str(source), "bscd", image_size, opts.channels or 3,
                     opts.crop or "center", opts.resample)
    return cached_split(spec, collect, opts)


@register_dataset("eurosat", splits=("test",), test_split="test", cached=True)
def load_eurosat(split: str = "test", root=None, image_size: int = 84, seed: int = 0, **options):
    """EuroSAT RGB (default root ``<data dir>/EuroSAT``); all 10 classes as novel classes."""
    return _load("eurosat", "EuroSAT", split, root, image_size, options)


@register_dataset("cropdisease", splits=("test",), test_split="test", cached=True)
def load_cropdisease(split: str = "test", root=None, image_size: int = 84, seed: int = 0, **options):
    """CropDisease (default root ``<data dir>/CropDiseases``); all 38 classes as novel classes."""
    return _load("cropdisease", "CropDiseases", split, root, image_size, options)


@register_dataset("isic", splits=("test",), test_split="test", cached=True)
def load_isic(split: str = "test", root=None, image_size: int = 84, seed: int = 0, **options):
    """ISIC 2018 task 3 (default root ``<data dir>/ISIC``); 7 classes, in the CSV's column order."""
    return _load("isic", "ISIC", split, root, image_size, options)


@register_dataset("chestx", splits=("test",), test_split="test", cached=True)
def load_chestx(split: str = "test", root=None, image_size: int = 84, seed: int = 0, **options):
    """ChestX-ray14 (default root ``<data dir>/ChestX``); 7 single-label findings."""
    return _load("chestx", "ChestX", split, root, image_size, options)
