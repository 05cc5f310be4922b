"""Metadata is in pyproject.toml; this only copies configs/ into the wheel as fewshot/configs/,
where ``fewshot.configs_lookup`` finds them by name after a plain ``pip install``."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfigs(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's configs/ directly
        source = Path(__file__).resolve().parent / "configs"
        target = Path(self.build_lib) / "fewshot" / "configs"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))


setup(cmdclass={"build_py": BuildPyWithConfigs})
