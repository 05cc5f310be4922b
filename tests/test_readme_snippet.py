"""The documented plain-PyTorch sampler snippet runs as written (so it never rots).

The snippet is the ```python block after the marker ``<!-- snippet: sampler-plain-pytorch -->``
in README.md or docs/*.md (wherever the section lives); every copy found is run.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- snippet: sampler-plain-pytorch -->"
BLOCK = re.compile(re.escape(MARKER) + r"\s*```python\n(.*?)\n```", re.S)


def snippets():
    """(file, code) of every marked snippet in the README and docs."""
    found = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        if path.is_file():
            found += [(path.relative_to(REPO).as_posix(), code) for code in BLOCK.findall(path.read_text())]
    return found


def test_the_snippet_exists():
    assert snippets(), f"no ```python block after {MARKER} in README.md or docs/*.md"


@pytest.mark.parametrize("where, code", snippets() or [("none", "")])
def test_snippet_runs_and_trains_on_variable_episodes(where, code):
    if not code:
        pytest.skip("no snippet found (test_the_snippet_exists fails)")
    out = io.StringIO()
    namespace = {"__name__": "__snippet__"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, where, "exec"), namespace)  # noqa: S102 - our own documentation
    lines = re.findall(r"episode (\d+): (\d+)-way, (\d+) support, (\d+) query, loss ([\d.]+), "
                       r"accuracy ([\d.]+)", out.getvalue())
    assert len(lines) == 5, out.getvalue()  # every 20th of 100 episodes
    ways = {int(w) for _, w, *_ in lines}
    assert len(ways) > 1 and all(3 <= w <= 10 for w in ways)  # variable ways within the bounds
    losses = [float(x[4]) for x in lines]
    assert losses[-1] < losses[0]  # the loop learns
    sampler = namespace["sampler"]
    assert sampler.epoch == 1 and sampler.position == 0  # the DataLoader consumed one full epoch
