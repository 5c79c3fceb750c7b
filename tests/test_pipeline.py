"""The whole pipeline as a user runs it: `make repro PROFILE=ci` from a clean shell, end to end, then up to date; then
the documented profile switch to a paper-like profile on real-format data, which DVC must see."""
import os, shutil, subprocess, sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parents[1]
STAMP = ".venv/.vlfau-installed"

# The paper profile made tiny: the paper's recipe (ImageNet normalisation, cutout, whole face, timm's Swin, the
# paper's loss settings) on a Swin of a few hundred thousand parameters at 64 px, pointed at data in the real
# datasets' on-disk format outside the twin's folder. What `conf/profile/paper.yaml` does with real BP4D and DISFA.
PAPER_LIKE = """# @package _global_
defaults:
  - paper
  - _self_
profile: paperlike
synth: {bp4d_tasks: [T1, T2, T3, T4, T5, T6, T7, T8], bp4d_frames: 3, bp4d_uncoded: 1, disfa_frames: 10}
data:
  bp4d: {root: real/BP4D}
  disfa: {root: real/DISFA, gender_table: real/DISFA/gender.csv}
  folds: [1]
  resize: 72
  crop: 64
  num_workers: 0
align: {size: 96, workers: 1}
model:
  backbone: swin_tiny_patch4_window7_224
  backbone_kwargs: {img_size: 64, embed_dim: 16, depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2], window_size: 2}
  pretrained: none
  d: 32
  hidden: 32
  embed: 16
  reduction: 4
train: {epochs: 1, batch_size: 16}
evaluate: {batch_size: 64}
ablation: {variants: [2, 5], folds: [1]}
figures: {umap: false, subjects: 4, frames_per_subject: 2, examples: 1}
"""


def clean_env(cwd):
    "A user's shell: the system's PATH only, nothing activated."
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1",
            "LANG": "C.UTF-8"}


def sh(*args, cwd, timeout=1500):
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=clean_env(cwd))


def make_repro(cwd, profile):
    "The README's command. The environment is this one (linked as .venv/); -o keeps make from reinstalling it."
    return sh("make", "-o", STAMP, "repro", f"PROFILE={profile}", cwd=cwd)


def stages_listed(status: str) -> set[str]:
    "Stage names in `dvc status` output (lines ending with ':' at the left margin)."
    return {line[:-1] for line in status.splitlines() if line and not line[0].isspace() and line.endswith(":")}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    "A copy of the project's pipeline, conf/ and Makefile in a git and DVC repository of its own."
    d = tmp_path_factory.mktemp("pipeline")
    for f in ["dvc.yaml", "Makefile", "settings.ini", "setup.py", "pyproject.toml", ".dvcignore"]:
        shutil.copy2(ROOT / f, d / f)
    shutil.copytree(ROOT / "conf", d / "conf")
    shutil.copytree(ROOT / "vlfau", d / "vlfau", ignore=shutil.ignore_patterns("__pycache__"))
    (d / "nbs").mkdir(); shutil.copy(ROOT / "nbs" / "80_ablation.ipynb", d / "nbs")
    (d / ".venv").symlink_to(VENV)
    git = ["git", "-c", "user.name=vlfau", "-c", "user.email=vlfau@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=d, check=True)
    (d / ".gitignore").write_text(".venv\n")
    subprocess.run([*git, "add", "."], cwd=d, check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline"], cwd=d, check=True)  # dvclive reads the commit
    assert sh(str(VENV / "bin" / "dvc"), "init", "-q", cwd=d).returncode == 0
    shutil.copy(ROOT / ".dvc" / "config", d / ".dvc" / "config")  # hydra composition on, as in the project
    return d


@pytest.mark.slow
def test_make_repro_end_to_end(project):
    r = make_repro(project, "ci")
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    assert yaml.safe_load((project / "params.yaml").read_text())["profile"] == "ci"
    rep = project / "reports"
    for f in ["tables/table1.md", "tables/table2.md", "tables/table4_bp4d.md", "tables/explanations_bp4d.md", "figures/fig3.html",
              "figures/fig4.html", "figures/fig5.html", "index.md", "index.html", "synth/au_grid.png",
              "ablation/variant2/ablation.ipynb", "ablation/variant5/ablation.ipynb"]:
        assert (rep / f).is_file(), f
    index = (rep / "index.md").read_text()
    assert "synthetic twin" in index and "table2" in index and "fig4" in index and "profile: `ci`" in index
    assert "local: balanced agreement" in index and "Local bal. agr." in index  # the explanation metrics
    table2 = (rep / "tables" / "table2.md").read_text()
    assert "VL-FAU" in table2 and "synthetic twin, ci profile" in table2  # our row beside the paper's, labelled with its data
    # the executed ablation notebook ran with the sweep's value, not its default
    assert '"variant = 2' in (rep / "ablation" / "variant2" / "ablation.ipynb").read_text()


@pytest.mark.slow
def test_second_repro_is_up_to_date(project):
    r = make_repro(project, "ci")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Running stage" not in r.stdout, r.stdout[-3000:]
    s = sh(str(VENV / "bin" / "dvc"), "status", cwd=project)
    assert "up to date" in s.stdout, s.stdout


@pytest.mark.slow
def test_profile_switch_reruns_what_changes(project):
    "Switching the profile the documented way: DVC lists exactly the stages whose parameters or data change."
    for ds in ("BP4D", "DISFA"):  # real-format data outside the twin's folder, as a user's datasets are
        shutil.copytree(project / "data" / "synth" / ds, project / "real" / ds)
    (project / "conf" / "profile" / "paperlike.yaml").write_text(PAPER_LIKE)
    r = sh(str(VENV / "bin" / "vlfau"), "params", "--profile", "paperlike", cwd=project)  # make repro's first step
    assert r.returncode == 0, r.stderr
    s = sh(str(VENV / "bin" / "dvc"), "status", cwd=project)
    listed = stages_listed(s.stdout)
    # the roots and the recipe change; the twin, the folds' and captions' settings and the tables' code do not
    # (the stages after those re-run anyway once their inputs change: dvc status lists what differs now)
    expected = {f"{s}@{ds}" for s in ("manifest", "align") for ds in ("bp4d", "disfa")} | \
               {f"train@{ds}-1" for ds in ("bp4d", "disfa")} | {f"evaluate@{ds}-1" for ds in ("bp4d", "disfa")} | \
               {"ablation@2", "ablation@5"}
    assert listed == expected, (sorted(listed ^ expected), s.stdout)
    r = make_repro(project, "paperlike")
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    assert "Stage 'synth' didn't change" in r.stdout and "Running stage 'captions'" in r.stdout
    index = (project / "reports" / "index.md").read_text()
    assert "profile: `paperlike`" in index and "real dataset" in index and "synthetic twin" not in index, index[:2000]
    table2 = (project / "reports" / "tables" / "table2.md").read_text()
    assert "real dataset, paperlike profile" in table2 and "ci profile" not in table2
    s = sh(str(VENV / "bin" / "dvc"), "status", cwd=project)
    assert "up to date" in s.stdout, s.stdout
