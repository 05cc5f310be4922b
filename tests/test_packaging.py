"""Packaging: two distributions from this repository, fewshot and fewshot-episodes (exactly the
``episodes`` package, torch and numpy only), and the configs shipped inside the fewshot wheel."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import episodes
import fewshot

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

REPO = Path(__file__).resolve().parents[1]
ROOT_TOML = tomllib.loads((REPO / "pyproject.toml").read_text())
EPISODES_TOML = tomllib.loads((REPO / "packaging/episodes/pyproject.toml").read_text())
# What a wheel is built from; the copy keeps build/ and *.egg-info out of the checkout.
SNIPPET = re.compile(r"<!-- snippet: sampler-plain-pytorch -->\s*```python\n(.*?)\n```", re.S)
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "fewshot", "episodes", "configs",
           "packaging"]


def test_versions_agree_and_fewshot_pins_its_sampler():
    version = EPISODES_TOML["project"]["version"]
    assert version == episodes.__version__
    assert f"fewshot-episodes=={version}" in ROOT_TOML["project"]["dependencies"]
    assert ROOT_TOML["project"]["version"] == fewshot.__version__


def test_episodes_distribution_lists_every_subpackage_and_needs_torch_and_numpy_only():
    on_disk = sorted(".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "episodes").rglob("__init__.py"))
    assert sorted(EPISODES_TOML["tool"]["setuptools"]["packages"]) == on_disk
    names = [re.match(r"[A-Za-z0-9_.-]+", d).group() for d in EPISODES_TOML["project"]["dependencies"]]
    assert names == ["torch", "numpy"]
    assert ROOT_TOML["tool"]["setuptools"]["packages"]["find"]["include"] == ["fewshot*"]
    assert "learn2learn==0.2.0" in ROOT_TOML["project"]["optional-dependencies"]["maml"]


def test_episodes_never_imports_fewshot():
    imports = re.compile(r"^\s*(?:from|import)\s+(fewshot|learn2learn|yaml|torchvision)\b", re.M)
    offenders = [p.relative_to(REPO).as_posix() for p in (REPO / "episodes").rglob("*.py")
                 if imports.search(p.read_text())]
    assert offenders == []


def _torch_and_numpy_closure():
    """Top-level entries of site-packages belonging to torch, numpy and what they require."""
    todo, seen, entries = ["torch", "numpy"], set(), {}
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional or other-platform requirement
        for req in dist.requires or []:
            if "extra ==" not in req:
                todo.append(re.match(r"[A-Za-z0-9_.-]+", req).group())
        for file in dist.files or []:
            top = file.parts[0]
            if top not in ("..", "__pycache__") and not top.endswith(".pth"):
                entries[top] = Path(dist.locate_file(top))
    return entries


@pytest.mark.slow
def test_both_wheels_build_and_episodes_runs_with_only_torch_and_numpy(tmp_path):
    """From a copy of the sources: ``pip wheel --no-deps . ./packaging/episodes`` gives both wheels;
    a new venv that sees only torch, numpy and their own requirements (linked from this venv,
    not reinstalled: a .pth file names a folder of symbolic links) installs the episodes wheel
    with no index and runs the README's plug-in snippet."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        else:
            shutil.copy(REPO / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    ".", "./packaging/episodes", "-w", str(dist)], cwd=src, check=True)
    wheels = sorted(p.name for p in dist.iterdir())
    assert [re.sub(r"-0\..*", "", w) for w in wheels] == ["fewshot", "fewshot_episodes"]
    main_wheel, episodes_wheel = (zipfile.ZipFile(dist / w) for w in wheels)
    tops = {n.split("/")[0] for n in episodes_wheel.namelist()}
    assert tops == {"episodes", f"fewshot_episodes-{episodes.__version__}.dist-info"}
    main_files = main_wheel.namelist()
    assert not [n for n in main_files if n.startswith("episodes/")]
    assert "fewshot/configs/miniimagenet_protonet.yaml" in main_files
    assert "fewshot/configs/benchmarks/bscd_fsl.yaml" in main_files

    linked = tmp_path / "torch_and_numpy"
    linked.mkdir()
    for top, target in _torch_and_numpy_closure().items():
        (linked / top).symlink_to(target)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "torch_and_numpy.pth").write_text(f"{linked}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
                    str(dist / wheels[1])], check=True)
    (code,) = set(SNIPPET.findall((REPO / "README.md").read_text()))  # the plug-in snippet
    script = tmp_path / "snippet.py"
    script.write_text("import importlib.util, sys\n"
                      "assert importlib.util.find_spec('fewshot') is None, 'fewshot is visible'\n"
                      "import episodes\nprint('episodes from', episodes.__file__)\n" + code)
    run = subprocess.run([str(python), str(script)], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"episodes from {site}/episodes/__init__.py" in run.stdout
    assert len(re.findall(r"^episode \d+: ", run.stdout, re.M)) == 5, run.stdout
