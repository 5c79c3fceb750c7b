"""`vlfau captions` as a user runs it: a tiny manifest in, fold folders and the summary out; exit code 2 on bad input."""
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vlfau.aus import DATASET_AUS
from vlfau.captions.sets import load_caption_set
from vlfau.data.folds import FOLDS
from vlfau.data.manifest import LM_COLUMNS, au_columns, save_manifest

ROOT = Path(__file__).resolve().parents[1]
VLFAU = str(Path(sys.executable).with_name("vlfau"))


def run(tmp, *args):
    sets = [f"--set=paths.{k}={tmp / k}" for k in ("manifests", "captions", "reports")]
    return subprocess.run([VLFAU, "captions", *sets, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def bp4d_manifest(tmp: Path, frames: int = 3) -> pd.DataFrame:
    "A BP4D-shaped manifest: every fold subject, a few frames, random labels with some unknown."
    aus = DATASET_AUS["bp4d"]
    subjects = [s for part in FOLDS["bp4d"] for s in part]
    df = pd.DataFrame([{"key": f"bp4d/{s}/T1/{i:04d}", "dataset": "bp4d", "subject": s, "gender": s[0], "task": "T1",
                        "frame": i, "path": f"{s}/T1/{i}.jpg", "video_index": -1} for s in subjects for i in range(frames)])
    rng = np.random.default_rng(1)
    df[au_columns(aus)] = rng.choice(np.array([1, 0, -1], np.int8), size=(len(df), len(aus)), p=[0.3, 0.65, 0.05])
    df[LM_COLUMNS] = np.nan
    save_manifest(df, tmp / "manifests" / "bp4d.csv")
    return df


def test_captions_stage_writes_every_fold(tmp_path):
    df = bp4d_manifest(tmp_path)
    r = run(tmp_path, "--datasets", "bp4d")
    assert r.returncode == 0, r.stderr
    for k in (1, 2, 3):
        folder = tmp_path / "captions" / "bp4d" / f"fold{k}"
        assert {p.name for p in folder.iterdir()} == {"vocab.json", "local.json", "global.csv", "tokens.npz", "meta.json"}
        cs = load_caption_set(folder)
        assert cs.keys.tolist() == df["key"].tolist() and tuple(cs.local.shape[:3]) == (12, 2, 3)
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["dataset"] == "bp4d" and meta["fold"] == k and set(meta["train_subjects"]).isdisjoint(FOLDS["bp4d"][3 - k])
        assert (tmp_path / "reports" / "captions" / f"bp4d_fold{k}.json").is_file()
    assert "| bp4d | 3 |" in (tmp_path / "reports" / "captions" / "summary.md").read_text()


def test_captions_stage_missing_manifest_exits_2(tmp_path):
    r = run(tmp_path, "--datasets", "disfa", "--folds", "1")
    assert r.returncode == 2 and "disfa.csv" in r.stderr and "vlfau manifest" in r.stderr, r.stderr


@pytest.mark.parametrize("args, needle", [(["--datasets", "ck+"], "ck+"), (["--folds", "4"], "fold 4")])
def test_captions_stage_bad_choice_exits_2(tmp_path, args, needle):
    bp4d_manifest(tmp_path)
    r = run(tmp_path, *args)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
