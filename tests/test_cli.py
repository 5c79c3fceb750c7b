"""The `vlfau` command as a user runs it: help on every subcommand, exit codes."""
import os, subprocess, sys
from pathlib import Path

import pytest

from vlfau.cli import available

ROOT = Path(__file__).resolve().parents[1]
VLFAU = str(Path(sys.executable).with_name("vlfau"))


def run(*args, cwd=ROOT):
    return subprocess.run([VLFAU, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_top_level_help_lists_stages():
    r = run("--help")
    assert r.returncode == 0
    for name in available():
        assert name in r.stdout


@pytest.mark.parametrize("stage", sorted(available()))
def test_every_stage_has_help(stage):
    r = run(stage, "--help")
    assert r.returncode == 0, r.stderr
    assert "--params" in r.stdout and "--set" in r.stdout


def test_config_prints_resolved_profile():
    r = run("config", "--profile", "paper")
    assert r.returncode == 0, r.stderr
    assert "swin_base" in r.stdout and "profile: paper" in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["config", "--set", "train.epochs=0"], "train.epochs"),
    (["config", "--set", "data.folds=[0]"], "data.folds[0]"),
    (["config", "--set", "model.backbone_kwargs.img_size=100"], "model.backbone_kwargs.img_size"),
    (["config", "--params", "no-such.yaml"], "no-such.yaml"),
    (["config", "--set", "novalue"], "key=value"),
])
def test_bad_input_exits_2_with_message(args, needle):
    r = run(*args)
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_unknown_subcommand_is_a_usage_error():
    r = run("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_params_composes_conf_into_params_yaml(tmp_path):
    "`vlfau params` in a folder with only conf/: writes params.yaml, switches profiles, refuses an unknown one."
    import shutil, yaml
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    r = run("params", "--profile", "paper", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    p = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert p["profile"] == "paper" and p["model"]["d"] == 512 and p["ablation"]["folds"] == [1, 2, 3]
    r = run("params", cwd=tmp_path)  # conf/config.yaml's default profile
    assert r.returncode == 0 and yaml.safe_load((tmp_path / "params.yaml").read_text())["profile"] == "demo"
    committed = subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=ROOT, capture_output=True, text=True).stdout
    assert (tmp_path / "params.yaml").read_text() == committed  # the committed one is conf/ composed, in step
    r = run("params", "--profile", "gpu", cwd=tmp_path)
    assert r.returncode == 2 and "profile = 'gpu'" in r.stderr and "'paper'" in r.stderr, r.stderr
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["profile"] == "demo"  # nothing half-written
