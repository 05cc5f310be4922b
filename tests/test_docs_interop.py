"""Every example of docs/interop.md runs as written (skipped when its library is missing).

An example is the ```python block after a marker ``<!-- example: needs MODULE -->``; every
python block of the page must carry one, so that none goes untested.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "interop.md"
EXAMPLE = re.compile(r"<!-- example: needs ([\w.]+) -->\s*```python\n(.*?)\n```", re.S)
TEXT = PAGE.read_text()
EXAMPLES = EXAMPLE.findall(TEXT)


def test_every_python_block_is_a_marked_example():
    assert len(EXAMPLES) == TEXT.count("```python") >= 5


@pytest.mark.parametrize("needs, code", EXAMPLES, ids=[needs for needs, _ in EXAMPLES])
def test_example_runs(needs, code):
    pytest.importorskip(needs)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"{PAGE.name} ({needs})", "exec"), {"__name__": "__example__"})  # noqa: S102
    printed = out.getvalue()
    if needs == "torch":  # the resume example: the loader is ahead, the saved state is not
        ahead = re.search(r"loader at episode (\d+), loop at 5$", printed.strip())
        assert ahead and int(ahead.group(1)) > 5, printed
    else:
        loss = re.search(r"last query loss ([\d.]+)|support \(3, 8\), query \(6, 8\)", printed)
        assert loss, printed
