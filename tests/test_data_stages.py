"""`vlfau manifest` and `vlfau folds` as a user runs them, on miniature BP4D and DISFA in their distributed formats."""
import json, subprocess, sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vlfau.aus import DATASET_AUS
from vlfau.data import bp4d, disfa

ROOT = Path(__file__).resolve().parents[1]
VLFAU = str(Path(sys.executable).with_name("vlfau"))
BP4D_SUBJECTS = {"F001": "T1", "M011": "T2", "F007": "T8"}  # one subject of each part P1, P2, P3
DISFA_SUBJECTS = ["SN001", "SN013", "SN003"]


def make_bp4d(root: Path, frames: int = 6):
    rng = np.random.default_rng(0)
    for s, t in BP4D_SUBJECTS.items():
        d = root / bp4d.FRAMES_DIR / s / t
        d.mkdir(parents=True)
        for n in range(1, frames + 1): cv2.imwrite(str(d / f"{n:04d}.jpg"), np.full((12, 16, 3), 9 * n, np.uint8))
        lab = {a: [int(v) for v in rng.integers(0, 2, frames)] for a in DATASET_AUS["bp4d"]}
        lab[1][0], lab[1][1], lab[2] = 1, 9, [1] * frames  # AU1 has a 9; AU2 always present
        bp4d.write_au_occ(root / bp4d.LABELS_DIR / f"{s}_{t}.csv", range(1, frames + 2), {a: v + [0] for a, v in lab.items()})


def make_disfa(root: Path, frames: int = 5):
    for s in DISFA_SUBJECTS:
        p = disfa.video_path(root, s); p.parent.mkdir(parents=True, exist_ok=True)
        w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 25, (16, 12))
        for i in range(frames): w.write(np.full((12, 16, 3), 20 * i, np.uint8))
        w.release()
        for a in DATASET_AUS["disfa"]: disfa.write_intensities(disfa.label_path(root, s, a), [(i + a) % 6 for i in range(frames)])
    (root / "gender.csv").write_text("subject,gender\nSN001,F\nSN013,M\n")


def run(tmp: Path, *args):
    sets = [f"data.bp4d.root={tmp / 'BP4D'}", f"data.disfa.root={tmp / 'DISFA'}",
            f"data.disfa.gender_table={tmp / 'DISFA' / 'gender.csv'}", f"paths.manifests={tmp / 'manifests'}",
            f"paths.folds={tmp / 'folds'}", f"paths.reports={tmp / 'reports'}"]
    cmd = [VLFAU, *args, *[x for s in sets for x in ("--set", s)]]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture()
def data(tmp_path):
    make_bp4d(tmp_path / "BP4D"); make_disfa(tmp_path / "DISFA")
    return tmp_path


def test_manifest_and_folds_stages(data):
    r = run(data, "manifest")
    assert r.returncode == 0, r.stderr
    assert "labelled_not_on_disk: 3" in r.stdout  # BP4D: frame 7 of each session is labelled but not on disk
    from vlfau.data.manifest import read_manifest
    m = read_manifest(data / "manifests" / "bp4d.csv")
    assert len(m) == 18 and m["au1"].tolist()[:2] == [1, -1] and set(m["gender"]) == {"F", "M"}
    rep = json.loads((data / "reports" / "manifest" / "disfa.json").read_text())
    assert rep["frames"] == 15 and rep["subjects_by_gender"] == {"F": 1, "M": 1, "U": 1}
    assert rep["labels"]["au2"] == {"present": 12, "absent": 3, "unknown": 0}  # intensities 2, 3, 4, 5, 0 per subject
    r = run(data, "folds")
    assert r.returncode == 0, r.stderr
    f = json.loads((data / "folds" / "bp4d.json").read_text())
    assert f["folds"]["1"]["test"][0] == "F007" and f["folds"]["1"]["train_frames"] == 12
    assert abs(sum(f["folds"]["2"]["weights"]) - 1) < 1e-9 and len(f["subjects_missing"]) == 38
    assert f["folds"]["1"]["known"][0] == 10  # AU1's 9s are not counted as known


def test_malformed_label_line_exits_2_naming_file_line_value(data):
    f = data / "BP4D" / bp4d.LABELS_DIR / "M011_T2.csv"
    lines = f.read_text().splitlines(); lines[3] = lines[3][:-1] + "x"
    f.write_text("\n".join(lines) + "\n")
    r = run(data, "manifest", "--datasets", "bp4d")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{f}, line 4: AU24 = 'x': expected an integer" in r.stderr, r.stderr


def test_missing_dataset_and_manifest_exit_2(tmp_path):
    r = run(tmp_path, "manifest", "--datasets", "disfa")
    assert r.returncode == 2 and "data.disfa.root" in r.stderr
    r = run(tmp_path, "folds", "--datasets", "disfa")
    assert r.returncode == 2 and "run `vlfau manifest` first" in r.stderr
