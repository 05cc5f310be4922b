"""The one registry mechanism: register, create, the error that lists names, plug-in recording."""

import pytest

from fewshot.registry import ALL, Registry, import_plugins, plugin_modules


def test_register_create_and_list():
    reg = Registry("widget-test")

    @reg.register("double")
    def double(x, factor=2):
        return x * factor

    reg.add("triple", lambda x: 3 * x, note="added")
    assert reg.create("double", 4) == 8
    assert reg.create("double", 4, factor=5) == 20
    assert reg.create("triple", 2) == 6
    assert reg.info("triple") == {"note": "added"}
    assert sorted(reg) == ["double", "triple"] and "double" in reg and len(reg) == 2
    assert ALL["widget-test"] is reg
    with pytest.raises(ValueError, match=r"unknown widget-test 'quad'; available: double, triple"):
        reg.create("quad", 1)
    with pytest.raises(KeyError):
        reg["quad"]


def test_duplicate_name_refused_unless_replaced():
    reg = Registry("widget-dup")
    reg.add("a", int)
    reg.add("a", int)  # the same factory again (a module imported twice) is fine
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", float)
    reg.add("a", float, replace=True)
    assert reg.get("a") is float
    reg["b"] = str  # old dict style
    assert reg.create("b", 3) == "3"


def test_plugin_modules_and_import(tmp_path, monkeypatch):
    (tmp_path / "my_plugin_mod.py").write_text(
        "from fewshot.registry import ALL, Registry\n"
        "reg = ALL.get('widget-plug') or Registry('widget-plug')\n"
        "@reg.register('mine')\n"
        "def mine():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget-plug")
    reg.add("builtin", int)
    assert import_plugins(["my_plugin_mod", " "]) == ["my_plugin_mod"]
    assert reg.create("mine") == 1
    assert plugin_modules({"widget-plug": ["mine", "builtin", "absent"]}) == ["my_plugin_mod"]
    with pytest.raises(ValueError, match="no_such_module_xyz"):
        import_plugins(["no_such_module_xyz"])


def test_a_run_records_its_plugins_and_evaluation_imports_them(tmp_path):
    """Trained with FEWSHOT_PLUGINS=tiny_run (its data set 'tiny'), evaluated without it: the
    checkpoint names the plug-in module, so the evaluation finds the data set again."""
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    import tiny_run

    from fewshot.runs.checkpoint import load_checkpoint

    cfg = tiny_run.write_config(tmp_path)
    run = tmp_path / "runs" / "plug"
    subprocess.run(tiny_run.fewshot_command("train", str(cfg), f"run.out_dir={tmp_path / 'runs'}", "run.name=plug",
                                            "train.episodes=4", "train.val_every=0", "--no-eval"),
                   env=tiny_run.subprocess_env(), check=True, capture_output=True, text=True)
    assert load_checkpoint(run / "checkpoints" / "best.pt")["plugins"] == ["tiny_run"]
    env = {k: v for k, v in tiny_run.subprocess_env().items() if k != "FEWSHOT_PLUGINS"}
    out = subprocess.run(tiny_run.fewshot_command("eval", str(run), "--episodes", "2", "--quiet"), env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "tiny/test 3-way 1-shot" in out.stdout
