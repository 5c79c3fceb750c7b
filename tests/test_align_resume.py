"""`vlfau align` killed with SIGKILL mid-run and rerun ends byte-identical to an uninterrupted run; a third run does nothing."""
import os, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd
import pytest

from vlfau.align.fixtures import write_bad_inputs, write_face_frames
from vlfau.data.manifest import save_manifest

ROOT = Path(__file__).resolve().parents[1]
VLFAU = str(Path(sys.executable).with_name("vlfau"))


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    "A manifest of 5 subjects x 5 detector frames plus a subject of bad inputs (landmarks from the detector)."
    tmp = tmp_path_factory.mktemp("align")
    good = write_face_frames(tmp/"frames", subjects=("F001", "F002", "M001", "M002", "M003"), frames=5, landmarks=False)
    bad, _ = write_bad_inputs(tmp/"frames", big=(1800, 2400))
    save_manifest(pd.concat([good, bad], ignore_index=True), tmp/"manifests"/"bp4d.csv")
    return tmp


def cmd(tmp, out):
    sets = [f"paths.manifests={tmp/'manifests'}", f"paths.aligned={out/'aligned'}", f"paths.reports={out/'reports'}",
            "align.workers=2", "align.landmarks=auto", "data.datasets=[bp4d]"]
    return [VLFAU, "align", "--no-progress", *[a for s in sets for a in ("--set", s)]]


def outputs(out):
    "Every output file (relative path -> bytes)."
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_killed_run_resumes_to_identical_output(frames):
    ref, killed = frames/"ref", frames/"killed"
    r = subprocess.run(cmd(frames, ref), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "bp4d: 35/40 frames aligned, 5 left out" in r.stdout, r.stdout  # off.jpg by the detector

    log = open(frames/"killed.log", "w")
    p = subprocess.Popen(cmd(frames, killed), cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
    shards, t0 = killed/"aligned"/"bp4d"/"shards", time.time()
    while not (shards.is_dir() and any(shards.glob("*.json"))):
        assert p.poll() is None and time.time() - t0 < 120, f"the run ended before a unit finished:\n{(frames/'killed.log').read_text()}"
        time.sleep(0.005)
    os.killpg(p.pid, signal.SIGKILL)  # the stage and its workers, at once
    p.wait(); log.close()
    done_at_kill = len(list(shards.glob("*.json")))
    assert not (killed/"aligned"/"bp4d"/"index.csv").exists() and done_at_kill < 6  # killed mid-run

    r = subprocess.run(cmd(frames, killed), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got, want = outputs(killed), outputs(ref)
    assert got.keys() == want.keys() and [k for k in want if got[k] != want[k]] == []

    before = {p: p.stat().st_mtime_ns for p in killed.rglob("*")}
    r = subprocess.run(cmd(frames, killed), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "[up to date]" in r.stdout, r.stdout + r.stderr
    assert {p: p.stat().st_mtime_ns for p in killed.rglob("*")} == before  # nothing rewritten


def test_missing_manifest_is_a_clear_error(tmp_path):
    r = subprocess.run(cmd(tmp_path, tmp_path/"out"), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "bp4d.csv" in r.stderr and "Traceback" not in r.stderr
