"""init(): every argument of wandb.init's signature, env defaults, validation."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys

import pytest

import runship
from runship.writer.lifecycle import PROCESS
from tests.conftest import run_python
from tests.plain import records, stream_files

WANDB_INIT_ARGS = [
    "job_type", "dir", "config", "project", "entity", "reinit", "tags", "group", "name", "notes", "magic",
    "config_exclude_keys", "config_include_keys", "anonymous", "mode", "allow_val_change", "resume", "force",
    "tensorboard", "sync_tensorboard", "monitor_gym", "save_code", "id", "settings",
]  # fmt: skip


def test_signature_is_wandb_init():
    params = list(inspect.signature(runship.init).parameters)
    assert params[: len(WANDB_INIT_ARGS)] == WANDB_INIT_ARGS


def test_layout_and_start_record(make_run, root):
    run = make_run(
        project="proj",
        id="abc123",
        name="first",
        notes="a note",
        tags=["x", "y"],
        group="g",
        job_type="train",
        entity="team",
    )
    run.finish()
    run_dir = os.path.join(root, "proj", "abc123")
    assert run.run_dir == run_dir
    assert run.dir == os.path.join(run_dir, "files") and os.path.isdir(run.dir)
    assert run.path == "team/proj/abc123"
    files = stream_files(run_dir)
    assert len(files) == 1
    assert os.path.basename(files[0]).startswith(f"run-{run.session}-000000")
    (start,) = records(run_dir, "start")
    assert start["name"] == "first" and start["notes"] == "a note" and start["tags"] == ["x", "y"]
    assert start["group"] == "g" and start["job_type"] == "train" and start["entity"] == "team"
    assert start["reset"] is False and start["resumed"] is False
    view = runship.open_run(run_dir)
    assert (view.name, view.notes, view.tags, view.group, view.job_type) == (
        "first",
        "a note",
        ["x", "y"],
        "g",
        "train",
    )
    snap = json.load(open(os.path.join(run_dir, "run.json")))
    assert snap["state"] == "finished" and snap["name"] == "first" and snap["exit_code"] == 0


def test_attributes(make_run):
    run = make_run(id="attrs1")
    assert (run.id, run.name, run.project, run.step) == ("attrs1", "attrs1", "p", 0)
    assert run.resumed is False and run.disabled is False and run.offline is True
    assert run.entity is None and run.group is None and run.job_type is None and run.tags == ()
    run.log({"a": 1})
    assert run.step == 1
    run.finish()


@pytest.mark.parametrize(
    "bad", ["../evil", "a/b", "a\\b", "..", "", "x" * 129, "tab\there", "nul\x00", " lead"], ids=repr
)
@pytest.mark.parametrize("arg", ["id", "project"])
def test_bad_names_are_refused(make_run, root, arg, bad):
    with pytest.raises(ValueError, match=arg):
        make_run(**{arg: bad})
    assert not os.path.exists(os.path.join(root, "..", "evil"))


def test_env_defaults_and_wandb_fallback(make_run, root, monkeypatch):
    monkeypatch.setenv("WANDB_PROJECT", "from-wandb")
    monkeypatch.setenv("WANDB_NAME", "wname")
    monkeypatch.setenv("RUNSHIP_NAME", "rname")  # RUNSHIP_* wins over WANDB_*
    monkeypatch.setenv("WANDB_RUN_ID", "envid01")
    monkeypatch.setenv("WANDB_NOTES", "n")
    monkeypatch.setenv("RUNSHIP_TAGS", "a, b,c")
    monkeypatch.setenv("WANDB_RUN_GROUP", "grp")
    monkeypatch.setenv("WANDB_JOB_TYPE", "eval")
    monkeypatch.setenv("WANDB_DIR", root)
    run = runship.init(settings={"quiet": True})
    run.finish()
    assert (run.project, run.id, run.name, run.notes) == ("from-wandb", "envid01", "rname", "n")
    assert run.tags == ("a", "b", "c") and run.group == "grp" and run.job_type == "eval"
    assert os.path.isdir(os.path.join(root, "from-wandb", "envid01"))


def test_arguments_override_env(make_run, monkeypatch):
    monkeypatch.setenv("RUNSHIP_PROJECT", "envproj")
    monkeypatch.setenv("RUNSHIP_MODE", "disabled")
    run = make_run(project="argproj", mode="offline")
    assert run.project == "argproj" and not run.disabled


def test_env_mode_disabled(make_run, monkeypatch, root):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = runship.init(project="p", dir=root, settings={"quiet": True})
    assert run.disabled
    run.log({"a": 1})
    run.finish()
    assert not os.path.exists(root)


def test_disabled_mode_writes_nothing_same_api(make_run, root):
    run = make_run(mode="disabled", config={"lr": 0.1})
    assert isinstance(run, runship.Run) and run.disabled
    run.log({"loss": 1.0})
    run.config.update({"b": 2})
    run.summary["x"] = 1
    run.flush()
    run.finish()
    assert run.config.lr == 0.1 and run.config["b"] == 2
    assert not os.path.exists(root)


def test_online_mode_is_recorded_and_writes(make_run, root):
    run = make_run(mode="online", id="onl")
    run.log({"a": 1})
    run.finish()
    assert records(os.path.join(root, "p", "onl"), "start")[0]["mode"] == "online"


def test_bad_mode(make_run):
    with pytest.raises(ValueError, match="mode"):
        make_run(mode="sometimes")


@pytest.mark.parametrize("arg", ["magic", "anonymous", "force", "monitor_gym"])
def test_no_effect_arguments_are_recorded_and_noticed(make_run, root, capsys, arg):
    value = "allow" if arg == "anonymous" else True
    run = make_run(id="noeff", settings={"quiet": False}, **{arg: value})
    run.finish(quiet=True)
    err = capsys.readouterr().err
    assert f"init({arg}=...) has no effect" in err
    assert err.count(f"init({arg}=") == 1
    run_dir = os.path.join(root, "p", "noeff")
    assert records(run_dir, "start")[0]["args"][arg] == value
    assert any(n.get("arg") == arg for n in records(run_dir, "notice"))


@pytest.mark.parametrize("arg", ["tensorboard", "sync_tensorboard"])
def test_sync_tensorboard_is_recorded_and_never_says_it_has_no_effect(make_run, root, capsys, arg):
    """sync_tensorboard mirrors TensorBoard writers (tests/compat); whether
    or not one is installed, the run records that it was asked for."""
    run = make_run(id="tb", settings={"quiet": False}, **{arg: True})
    run.finish(quiet=True)
    assert "has no effect" not in capsys.readouterr().err
    assert records(os.path.join(root, "p", "tb"), "start")[0]["args"]["sync_tensorboard"] is True


def test_unknown_settings_are_tolerated_and_noticed(make_run, root, capsys):
    run = make_run(
        id="sett", settings={"quiet": False, "x_label": "node-3", "x_disable_stats": True, "flush_interval": 0.5}
    )
    run.finish(quiet=True)
    assert "setting 'x_label' has no effect" in capsys.readouterr().err
    assert run.settings.flush_interval == 0.5
    assert run.settings.system_metrics is False  # wandb's x_disable_stats means ours
    assert records(os.path.join(root, "p", "sett"), "start")[0]["settings"]["flush_interval"] == 0.5


def test_settings_values_are_checked(make_run):
    with pytest.raises(ValueError, match="flush_interval"):
        make_run(settings={"flush_interval": -1})
    with pytest.raises(ValueError, match="on_buffer_full"):
        runship.Settings(on_buffer_full="explode")


def test_save_code_copies_entry_script(tmp_path):
    script = tmp_path / "train_me.py"
    script.write_text(
        "import runship\n"
        f"run = runship.init(project='p', id='code1', dir={str(tmp_path / 'r')!r}, save_code=True, settings={{'quiet': True}})\n"
        "run.finish()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    subprocess.run([sys.executable, str(script)], check=True, env=env, capture_output=True)
    saved = tmp_path / "r" / "p" / "code1" / "files" / "code" / "train_me.py"
    assert saved.read_text() == script.read_text()
    files = records(str(tmp_path / "r" / "p" / "code1"), "file")
    assert files and files[-1]["path"] == "files/code/train_me.py" and files[-1]["size"] == saved.stat().st_size


# ---- config inputs ----------------------------------------------------------------


def _config_of(make_run, root, config, **kwargs):
    run = make_run(config=config, **kwargs)
    run.finish()
    return runship.open_run(run.run_dir).config


def test_config_dict_namespace_absl(make_run, root):
    assert _config_of(make_run, root, {"lr": 0.1, "nested": {"a": [1, 2]}}) == {"lr": 0.1, "nested": {"a": [1, 2]}}
    ns = argparse.Namespace(lr=0.01, epochs=3)
    assert _config_of(make_run, root, ns) == {"lr": 0.01, "epochs": 3}

    class AbslFlags:  # absl.flags.FLAGS exposes flag_values_dict()
        def flag_values_dict(self):
            return {"batch_size": 32, "use_tpu": False}

    assert _config_of(make_run, root, AbslFlags()) == {"batch_size": 32, "use_tpu": False}


def test_config_files(make_run, root, tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text("lr: 0.001\nlayers: [64, 64]\n")
    wandb_layout = tmp_path / "config.yaml"
    wandb_layout.write_text(
        "wandb_version: 1\n\nlr:\n  desc: learning rate\n  value: 0.5\nepochs:\n  desc: null\n  value: 10\n"
    )
    js = tmp_path / "c.json"
    js.write_text('{"dropout": 0.2}')
    assert _config_of(make_run, root, str(plain)) == {"lr": 0.001, "layers": [64, 64]}
    assert _config_of(make_run, root, str(wandb_layout)) == {"lr": 0.5, "epochs": 10}
    assert _config_of(make_run, root, js) == {"dropout": 0.2}


def test_config_file_errors(make_run, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match=r"bad\.json.*not valid JSON"):
        make_run(config=str(bad))
    with pytest.raises(ValueError, match="cannot be read"):
        make_run(config=str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match=r"\.yaml, \.yml or \.json"):
        make_run(config=str(tmp_path / "c.toml"))
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        make_run(config=str(listy))
    with pytest.raises(TypeError, match="config must be"):
        make_run(config=42)


def test_yaml_without_pyyaml_gives_clear_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("a: 1\n")
    out = run_python(
        f"""
        import sys
        sys.modules['yaml'] = None  # PyYAML not installed
        import runship
        try:
            runship.init(project='p', dir={str(tmp_path)!r}, config={str(cfg)!r}, settings={{'quiet': True}})
        except ImportError as e:
            print('ERR', e)
        """
    )
    assert "ERR" in out.stdout and "PyYAML" in out.stdout and "c.yaml" in out.stdout


def test_config_include_exclude(make_run, root):
    cfg = {"a": 1, "b": 2, "c": 3}
    assert _config_of(make_run, root, cfg, config_include_keys=["a", "b"]) == {"a": 1, "b": 2}
    assert _config_of(make_run, root, cfg, config_exclude_keys=["a"]) == {"b": 2, "c": 3}


# ---- reinit and module-level API ----------------------------------------------------------


def test_reinit_policies(root):
    s = {"quiet": True}
    first = runship.init(project="p", dir=root, settings=s)
    assert runship.init(project="p", dir=root, settings=s) is first  # default in a script: return_previous
    assert runship.init(project="p", dir=root, settings=s, reinit=False) is first
    second = runship.init(project="p", dir=root, settings=s, reinit="create_new")
    assert second is not first and runship.run is first and not first._finished
    third = runship.init(project="p", dir=root, settings=s, reinit="finish_previous")
    assert first._finished and second._finished and runship.run is third
    fourth = runship.init(project="p", dir=root, settings=s, reinit=True)
    assert third._finished and runship.run is fourth
    with pytest.raises(ValueError, match="reinit"):
        runship.init(project="p", dir=root, settings=s, reinit="sometimes")
    fourth.finish()
    assert runship.run is None


def test_module_level_api(root):
    with pytest.raises(runship.UsageError, match="init"):
        runship.log({"a": 1})
    run = runship.init(project="p", id="mod", dir=root, config={"lr": 1}, settings={"quiet": True})
    assert runship.run is run and runship.config.lr == 1
    runship.log({"a": 1})
    runship.log({"a": 2})
    runship.summary["best"] = 5
    runship.config.update({"extra": True})
    runship.finish()
    assert runship.run is None and PROCESS.active == []
    view = runship.open_run(run.run_dir)
    assert [r["a"] for r in view.history()] == [1, 2]
    assert view.summary == {"a": 2, "best": 5} and view.config == {"lr": 1, "extra": True}


def test_context_manager_exception_gives_exit_code_1(make_run):
    with pytest.raises(RuntimeError), make_run(id="ctx") as run:
        run.log({"a": 1})
        raise RuntimeError("boom")
    view = runship.open_run(run.run_dir)
    assert view.state == "failed" and view.exit_code == 1
    with make_run(id="ctx2") as run2:
        run2.log({"a": 1})
    assert runship.open_run(run2.run_dir).exit_code == 0


def test_init_is_fast_enough_to_not_need_a_service(make_run):
    # not a timing assertion: init must not start a process or a non-daemon thread
    import threading

    before = set(threading.enumerate())
    run = make_run()
    started = [t for t in threading.enumerate() if t not in before]
    # the writer, and a short-lived one that records the environment
    assert {t.name for t in started} <= {"runship-writer", "runship-environment"} and all(t.daemon for t in started)
    assert "runship-writer" in {t.name for t in started}
    run.finish()


def test_the_writer_calls_the_hooks_the_runship_package_installs(tmp_path):
    # the writer imports neither runship.integration nor the runship package for
    # sync_tensorboard and its version: `import runship` installs both (writer/hooks.py)
    out = run_python(
        f"""
        import json, sys
        import runship
        from runship.writer.hooks import HOOKS, install
        installed = HOOKS.sync_tensorboard is not None and HOOKS.version == runship.__version__
        calls = []
        def hook(run):
            calls.append(("start", run.id))
            return lambda: calls.append(("stop", run.id))
        install(sync_tensorboard=hook)
        run = runship.init(project="p", id="tb", dir={str(tmp_path)!r}, sync_tensorboard=True,
                           settings={{"quiet": True, "environment": False, "console": "off"}})
        started = list(calls)
        run.finish()
        print(json.dumps({{"installed": installed, "started": started, "calls": calls,
                          "integration": "runship.integration.tensorboard" in sys.modules}}))
        """
    )
    assert out.returncode == 0, out.stderr
    said = json.loads(out.stdout.splitlines()[-1])
    assert said == {
        "installed": True,
        "started": [["start", "tb"]],
        "calls": [["start", "tb"], ["stop", "tb"]],
        "integration": False,
    }
    start = records(str(tmp_path / "p" / "tb"), "start")[0]
    assert start["runship"] == runship.__version__
