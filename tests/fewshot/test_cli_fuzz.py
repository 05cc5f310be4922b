"""Property: any config or command line gives either a valid run (exit 0) or a one-paragraph
error (exit 2, ``fewshot: error: ...``), never a bare traceback.

Every example runs in its own temporary folder; the run folder, data root and cache are forced
into it by trailing overrides (the last override wins), so no example writes anywhere else.
Examples are derandomised (the same every run) and few, so the test stays fast.
"""

import contextlib
import io
import os
import sys
import tempfile
import typing
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)

from fewshot import reporting  # noqa: E402
from fewshot.cli import main  # noqa: E402
from fewshot.config import Config, valid_keys  # noqa: E402
from fewshot.data import registry  # noqa: E402
from fewshot.runs.rng import set_deterministic  # noqa: E402

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
KEYS = [k for k in valid_keys() if not k.startswith("run.")]
NAMES = ["tiny", "cpu", "cuda", "conv4", "conv4-avg", "resnet12", "protonet", "matchingnet", "maml", "anil",
         "pretrain", "cosine", "euclidean", "fixed", "variable", "imbalanced", "by_domain", "train", "val", ""]


def _hint(key: str):
    node = Config
    for part in key.split("."):
        hint = typing.get_type_hints(node)[part]
        node = hint
    return hint


def plausible(key: str):
    """Values of the key's own type, mostly small: runs that may well be valid."""
    hint = _hint(key)
    origin = typing.get_origin(hint)
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(-1, 20)
    if hint is float:
        return st.one_of(st.floats(-0.5, 2.0), st.sampled_from([0.0, 1e-3, 0.5, 1.0, 1e9]))
    if origin in (list, typing.List):
        return st.lists(st.integers(-1, 6), max_size=3)
    if origin in (dict, typing.Dict):
        return st.dictionaries(st.sampled_from(["a", "steps", "distance", "channels"]),
                               st.one_of(st.integers(-1, 5), st.sampled_from(NAMES)), max_size=2)
    return st.one_of(st.sampled_from(NAMES), st.none(), st.text(max_size=6))


wild = st.one_of(
    st.integers(-3, 24), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=8), st.sampled_from(NAMES), st.lists(st.integers(-2, 6), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-2, 5), max_size=2),
)


@st.composite
def keys(draw):
    """Valid keys, typos of them, bare section names and junk."""
    key = draw(st.sampled_from(KEYS))
    kind = draw(st.sampled_from(["exact", "exact", "typo", "section", "junk"]))
    if kind == "typo" and len(key) > 2:
        i = draw(st.integers(0, len(key) - 1))
        return key[:i] + draw(st.sampled_from(["", "x", key[i] * 2, "."])) + key[i + 1:]
    if kind == "section":
        return key.split(".")[0]
    if kind == "junk":
        return draw(st.text(max_size=10))
    return key


@st.composite
def good_override(draw):
    key = draw(st.sampled_from(KEYS))
    return key, draw(plausible(key))


def _text(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


overrides = st.lists(st.one_of(
    good_override().map(lambda kv: f"{kv[0]}={_text(kv[1])}"),
    good_override().map(lambda kv: f"{kv[0]}={_text(kv[1])}"),
    st.builds(lambda k, v: f"{k}={_text(v)}", keys(), wild),
    st.text(max_size=12),
), max_size=4)


@st.composite
def config_files(draw):
    """The tiny config with a few mutations (set, delete, misspell, replace a section), or junk text."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=40))
    data = yaml.safe_load(tiny_run.TINY_CONFIG)
    data["train"].update(episodes=4, val_every=2, val_episodes=2, log_every=2)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(KEYS))
        section, name = key.split(".", 1)
        node = data.setdefault(section, {}) if isinstance(data.get(section, {}), dict) else {}
        action = draw(st.sampled_from(["set", "set", "wild", "delete", "misspell", "section"]))
        if action == "set":
            node[name] = draw(plausible(key))
        elif action == "wild":
            node[name] = draw(wild)
        elif action == "delete":
            node.pop(name, None)
        elif action == "misspell":
            node[name[:-1] or "x"] = node.pop(name, 1)
        else:
            data[section] = draw(wild)
    return yaml.safe_dump(data)


def _safe_suffix(tmp: Path) -> list:
    return [f"run.out_dir={tmp / 'runs'}", "run.name=r", f"data.root={tmp / 'data'}"]


def _check(argv: list, tmp: Path) -> None:
    err = io.StringIO()
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except SystemExit as exit_:  # argparse: usage line + one error line
        assert exit_.code in (0, 2), argv
        return
    finally:
        torch.set_num_threads(threads)
        set_deterministic(det)
    message = err.getvalue()
    if code == 0:
        if argv[0] == "train":
            assert (tmp / "runs" / "r" / "checkpoints" / "last.pt").is_file()
        return
    assert code == 2, (argv, message)
    assert "fewshot: error: " in message and "Traceback" not in message, message
    error = message[message.index("fewshot: error: "):]
    assert "\n\n" not in error.strip(), error


@pytest.fixture(autouse=True)
def _no_glyph_builds(monkeypatch):
    """A config that falls back to the default data set gets the tiny one (building the glyphs
    benchmark would take long): the property is about the CLI, not about that data set."""
    monkeypatch.setitem(registry.LOADERS, "glyphs", tiny_run.load_tiny)
    # The figure at the end of `fewshot train` takes most of a tiny run's time; figures have
    # their own tests (test_reporting.py), the property here is about configs.
    monkeypatch.setattr(reporting, "plot_learning_curves", lambda runs, out, labels=None: Path(out))


@contextlib.contextmanager
def scratch_dir():
    """A fresh temporary folder as the working directory, for one example."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


@pytest.fixture
def base(tmp_path):
    return ["train", str(tiny_run.write_config(tmp_path)), "--no-eval", "train.episodes=6", "train.val_every=3",
            "train.val_episodes=2", "train.log_every=2"]


@SETTINGS
@given(overrides)
def test_any_overrides_give_a_run_or_a_one_paragraph_error(base, extra):
    with scratch_dir() as tmp:
        _check([*base, *extra, *_safe_suffix(tmp)], tmp)


@SETTINGS
@given(config_files())
def test_any_config_file_gives_a_run_or_a_one_paragraph_error(text):
    with scratch_dir() as tmp:
        path = tmp / "c.yaml"
        path.write_text(text)
        _check(["train", str(path), "--no-eval", *_safe_suffix(tmp)], tmp)


tokens = st.one_of(st.sampled_from(["train", "eval", "plot", "report", "--resume", "--no-eval", "--help", "--out",
                                    "--what", "curves", "--shots", "1", "--n-way", "-x", "missing_run", "k=v"]),
                   st.text(max_size=6))


@SETTINGS
@given(st.lists(tokens, max_size=5))
def test_any_command_line_gives_a_result_or_a_one_paragraph_error(monkeypatch, argv):
    with scratch_dir() as tmp:
        monkeypatch.setenv("FEWSHOT_DATA", str(tmp))
        if argv and argv[0] == "train":
            argv = [*argv, *_safe_suffix(tmp)]
        _check(argv, tmp)


# ---------------------------------------------------------------- issue 17: options, YAML shapes, eval flags
FEWER = settings(SETTINGS, max_examples=15)
option_values = st.one_of(st.booleans(), st.integers(-3, 5), st.floats(allow_nan=True), st.text(max_size=5),
                          st.sampled_from(["false", "true", "3", "nan", "1e400", "[1, 2]", "{a: 1}"]))


@st.composite
def learner_options(draw):
    """Every learner, with its own option names (and a wrong one) given values of any type."""
    from fewshot.learners import LEARNERS, learner_option_types

    learner = draw(st.sampled_from(sorted(n for n in LEARNERS if n not in ("maml", "fomaml", "anil", "metasgd"))))
    names = sorted(learner_option_types(learner)) + ["nope"]
    chosen = draw(st.dictionaries(st.sampled_from(names), option_values, max_size=3))
    return [f"model.learner={learner}"] + [f"model.options.{k}={_text(v)}" for k, v in chosen.items()]


@FEWER
@given(learner_options())
def test_any_learner_options_give_a_run_or_a_one_paragraph_error(base, extra):
    with scratch_dir() as tmp:
        _check([*base, *extra, *_safe_suffix(tmp)], tmp)


@st.composite
def yaml_shapes(draw):
    """YAML text with aliases fanning out (bombs or not) and nesting of any depth."""
    fan, levels = draw(st.integers(1, 12)), draw(st.integers(1, 9))
    anchors = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]" for i in range(1, levels)]
    depth = draw(st.integers(0, 4000))
    return draw(st.sampled_from(["{" + ", ".join(anchors) + "}", "[" * depth + "]" * depth,
                                 "{a: " * depth + "1" + "}" * depth]))


@FEWER
@given(yaml_shapes(), st.sampled_from(["model.options", "data.options", "train.episode_options", "eval.shots"]))
def test_yaml_aliases_and_nesting_give_a_run_or_a_one_paragraph_error(base, text, key):
    with scratch_dir() as tmp:
        _check([*base, f"{key}={text}", *_safe_suffix(tmp)], tmp)


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz_eval")
    argv = ["train", str(tiny_run.write_config(base)), f"run.out_dir={base}", "run.name=r", "train.episodes=4",
            "train.val_every=0", "--no-eval"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    return base / "r"


flag_values = {
    "--n-way": st.integers(-2, 7), "--shots": st.lists(st.integers(-1, 12), min_size=1, max_size=3),
    "--n-query": st.integers(-1, 12), "--episodes": st.integers(-1, 3), "--seed": st.integers(-3, 2 ** 40),
    "--seeds": st.lists(st.integers(-1, 4), min_size=1, max_size=3), "--split": st.sampled_from(["test", "val", "x"]),
    "--lambda": st.floats(allow_nan=True, allow_infinity=True), "--chunk": st.integers(-1, 3),
    "--val-episodes": st.integers(-1, 3),
}


@FEWER
@given(st.dictionaries(st.sampled_from(sorted(flag_values)), st.none(), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: flag_values[k] for k in keys})), st.booleans())
def test_any_eval_flags_give_a_result_or_a_one_paragraph_error(evaluated_run, flags, transductive):
    argv = ["eval", str(evaluated_run), "--quiet"]
    for flag, value in flags.items():
        argv += [flag, *map(str, value if isinstance(value, list) else [value])]
    if transductive or "--lambda" in flags:
        argv += ["--transductive", "laplacianshot"]
    with scratch_dir() as tmp:
        _check([*argv, "--out", str(tmp / "out")], tmp)
