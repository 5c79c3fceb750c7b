"""The whole pipeline as a user runs it: `dvc repro` on a tiny configuration, end to end, then up to date."""
import shutil, subprocess, sys
from pathlib import Path

import pytest
import yaml

from vlfau.config import load_params

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Both datasets, one fold, a model of a few hundred thousand parameters at 64 px, one epoch; the Table 4 sweep on
# the two rows Figure 4 compares. Every stage runs for real, only smaller.
TINY = ["synth.bp4d_tasks=[T1, T2, T3, T4, T5, T6, T7, T8]", "synth.bp4d_frames=3", "synth.bp4d_uncoded=1",
        "synth.disfa_frames=10",
        "data.folds=[1]", "align.workers=1", "data.resize=72", "data.crop=64", "data.num_workers=0",
        "model.backbone_kwargs={widths: [8, 16, 24, 32]}",
        "model.d=32", "model.hidden=32", "model.embed=16", "model.reduction=4",
        "train.epochs=1", "train.batch_size=16", "evaluate.batch_size=64",
        "ablation.variants=[2, 5]", "ablation.folds=[1]", "figures.umap=false", "figures.subjects=4",
        "figures.frames_per_subject=2", "figures.examples=1"]


def dvc(*args, cwd):
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1", "HOME": str(cwd)}
    return subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, capture_output=True, text=True, timeout=1500, env=env)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    "A copy of the project's pipeline with the tiny parameters, in a DVC repository of its own."
    d = tmp_path_factory.mktemp("pipeline")
    shutil.copy(ROOT / "dvc.yaml", d / "dvc.yaml")
    shutil.copytree(ROOT / "vlfau", d / "vlfau", ignore=shutil.ignore_patterns("__pycache__"))
    (d / "nbs").mkdir(); shutil.copy(ROOT / "nbs" / "80_ablation.ipynb", d / "nbs")
    params = load_params(ROOT / "params.yaml", overrides=TINY).to_dict()
    (d / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=vlfau", "-c", "user.email=vlfau@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=d, check=True)
    subprocess.run([*git, "add", "dvc.yaml", "params.yaml"], cwd=d, check=True)
    subprocess.run([*git, "commit", "-qm", "tiny pipeline"], cwd=d, check=True)  # dvclive reads the commit
    assert dvc("init", "-q", cwd=d).returncode == 0
    shutil.copy(ROOT / ".dvcignore", d / ".dvcignore")
    return d


@pytest.mark.slow
def test_dvc_repro_end_to_end(project):
    r = dvc("repro", cwd=project)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    rep = project / "reports"
    for f in ["tables/table1.md", "tables/table2.md", "tables/table4_bp4d.md", "tables/explanations_bp4d.md", "figures/fig3.html",
              "figures/fig4.html", "figures/fig5.html", "index.md", "index.html", "synth/au_grid.png",
              "ablation/variant2/ablation.ipynb", "ablation/variant5/ablation.ipynb"]:
        assert (rep / f).is_file(), f
    index = (rep / "index.md").read_text()
    assert "synthetic twin" in index and "table2" in index and "fig4.html" in index
    assert "local: balanced agreement" in index and "Local bal. agr." in index  # the explanation metrics
    table2 = (rep / "tables" / "table2.md").read_text()
    assert "VL-FAU" in table2 and "synthetic twin" in table2  # our row beside the paper's, labelled with its data
    # the executed ablation notebook ran with the sweep's value, not its default
    assert '"variant = 2' in (rep / "ablation" / "variant2" / "ablation.ipynb").read_text()


@pytest.mark.slow
def test_second_repro_is_up_to_date(project):
    r = dvc("repro", cwd=project)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Running stage" not in r.stdout, r.stdout[-3000:]
    s = dvc("status", cwd=project)
    assert "up to date" in s.stdout, s.stdout
