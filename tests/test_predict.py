"""`vlfau predict` as a user runs it: real faces, several faces, no face, broken and unsupported files, a video,
a missing path, the CSV/JSONL schema, and a rerun that resumes."""
import json, subprocess, sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.data import astronaut

from vlfau.predict_io import columns

ROOT = Path(__file__).resolve().parents[1]
VLFAU = str(Path(sys.executable).with_name("vlfau"))


def run(*args, cwd=ROOT):
    return subprocess.run([VLFAU, "predict", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    "A tiny VL-FAU with random weights, saved as `vlfau train` saves its model."
    from vlfau.model.checkpoint import save_checkpoint
    from vlfau.test_utils import tiny_model, tiny_vocab
    p = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(p, tiny_model(), tiny_vocab(), extra={"threshold": 0.5})
    return p


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    "A folder of inputs, one of each case."
    d = tmp_path_factory.mktemp("media")
    face = astronaut()[:300, 60:360]
    Image.fromarray(face).save(d / "one.jpg")
    Image.fromarray(np.concatenate([face, face[:, ::-1]], 1)).save(d / "two.png")    # two faces side by side
    Image.fromarray(np.full((120, 160, 3), 127, np.uint8)).save(d / "blank.png")       # no face
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")           # corrupted
    (d / "notes.txt").write_text("not a medium")                                      # unsupported
    (d / "videos").mkdir()
    w = cv2.VideoWriter(str(d / "videos" / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (240, 240))
    small = cv2.resize(face, (240, 240))[..., ::-1]
    for i in range(5): w.write(np.roll(small, 4 * i, axis=1))
    w.release()
    return d


@pytest.fixture(scope="module")
def first(ckpt, media, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    r = run(media, "-c", ckpt, "-o", out, "--every", "2", "--annotate")
    return r, out


def test_runs_and_reports_skipped_files(first, media):
    r, out = first
    assert r.returncode == 0, r.stderr
    assert f"skipped {media / 'broken.jpg'}" in r.stderr and "not a readable image" in r.stderr
    assert f"skipped {media / 'notes.txt'}" in r.stderr and "unsupported file type '.txt'" in r.stderr
    assert "Traceback" not in r.stderr


def test_csv_schema_and_cases(first, media):
    from vlfau.test_utils import TINY_AUS
    _, out = first
    df = pd.read_csv(out / "predictions.csv", keep_default_na=False, na_values=[""])
    assert list(df.columns) == columns(TINY_AUS)
    assert {"AU1_p", "AU1_c", "AU1_text", "global_text", "frame", "timestamp", "confidence", "x", "y", "w", "h"} <= set(df.columns)
    by = {Path(f).name: g for f, g in df.groupby("file")}
    assert set(by) == {"one.jpg", "two.png", "blank.png", "clip.avi", "broken.jpg"}  # the unsupported .txt: a message only
    broken = by.pop("broken.jpg")                                                     # a row that says why
    assert broken.status.tolist() == ["unreadable"] and "not a readable image" in broken.reason.item()
    assert broken.success.item() == 0 and broken[[c for c in df.columns if c.startswith("AU")]].isna().all(axis=None)
    one, two, blank, clip = by["one.jpg"], by["two.png"], by["blank.png"], by["clip.avi"]
    assert len(one) == 1 and one.success.item() == 1 and one.status.item() == "ok" and 0 < one.confidence.item() <= 1
    assert len(two) == 2 and two.faces.tolist() == [2, 2] and sorted(two.face_id) == [0, 1]
    assert abs(two.x.diff().iloc[-1]) > 200                                           # two different faces
    assert len(blank) == 1 and blank.status.item() == "no_face" and blank.success.item() == 0
    assert blank[[c for c in df.columns if c.startswith("AU")]].isna().all(axis=None)
    assert clip.frame.tolist() == [0, 2, 4] and np.allclose(clip.timestamp, [0, 0.2, 0.4])  # every 2nd frame
    ok = df[df.success == 1]
    p = ok[[f"AU{a}_p" for a in TINY_AUS]].to_numpy()
    c = ok[[f"AU{a}_c" for a in TINY_AUS]].to_numpy()
    assert ((p >= 0) & (p <= 1)).all() and np.array_equal(c, (p >= 0.5).astype(int))
    assert ok[[f"AU{a}_text" for a in TINY_AUS]].map(lambda s: isinstance(s, str) and len(s) > 0).all(axis=None)
    assert (ok.x >= 0).all() and (ok.w > 20).all()


def test_jsonl_matches_csv(first):
    _, out = first
    df = pd.read_csv(out / "predictions.csv")
    js = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(js) == len(df)
    for j, (_, row) in zip(js, df.iterrows()):
        assert (j["file"], j["frame"], j["face_id"], j["status"]) == (row.file, row.frame, row.face_id, row.status)
        if j["status"] == "ok":
            assert j["box"] == pytest.approx([row.x, row.y, row.w, row.h], abs=0.1)
            eyes = np.array(j["points"][:2])                                  # the five points, eyes first, inside the box
            assert len(j["points"]) == 5 and (eyes >= [row.x, row.y]).all() and (eyes <= [row.x + row.w, row.y + row.h]).all()
            assert {k: v["p"] for k, v in j["aus"].items()} == pytest.approx({k[:-2]: row[k] for k in df.columns if k.endswith("_p")})
        else: assert j["aus"] == {} and j["box"] is None and j["points"] is None


def test_annotated_outputs(first, media):
    _, out = first
    imgs = sorted(p.name for p in (out / "annotated").rglob("*.jpg"))
    assert imgs == ["blank.jpg", "one.jpg", "two.jpg"]
    vid = next((out / "annotated").rglob("clip.mp4"))
    assert cv2.VideoCapture(str(vid)).get(cv2.CAP_PROP_FRAME_COUNT) == 3


def test_a_video_cut_short_keeps_its_frames_and_says_where_it_stopped(ckpt, media, tmp_path):
    "An AVI cut in half still declares all its frames: the frames read are explained, then a 'truncated' row."
    clip = (media / "videos" / "clip.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(clip[:len(clip) // 2])
    r = run(tmp_path / "cut.avi", "-c", ckpt, "-o", tmp_path / "out", "--annotate")
    assert r.returncode == 0, r.stderr
    assert "stopped early:" in r.stderr and "decoding stopped at frame" in r.stderr and "1 stopped early" in r.stdout
    df = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False, na_values=[""])
    read, cut = df[df.status != "truncated"], df[df.status == "truncated"]
    assert len(cut) == 1 and cut.frame.item() == read.frame.max() + 1 and "of the 5 the file declares" in cut.reason.item()
    assert 1 <= read.frame.nunique() < 5 and (read.status == "ok").all() and read.frame.tolist() == sorted(read.frame)
    vid = cv2.VideoCapture(str(tmp_path / "out" / "annotated" / "cut.mp4"))  # the annotation of the frames read stands
    assert int(vid.get(cv2.CAP_PROP_FRAME_COUNT)) == read.frame.nunique()
    from vlfau.predict import Predictor  # the Python API warns and returns the faces of the frames read
    with pytest.warns(UserWarning, match="decoding stopped at frame"), Predictor.from_checkpoint(ckpt) as p:
        faces = p.predict(tmp_path / "cut.avi")
    assert sorted({f.frame for f in faces}) == sorted(read.frame.unique())


def test_rerun_skips_what_is_done(first, ckpt, media, tmp_path):
    _, out = first
    before = (out / "predictions.csv").read_text()
    extra = tmp_path / "extra.jpg"
    Image.fromarray(astronaut()[:300, 60:360]).save(extra)
    r = run(media, extra, "-c", ckpt, "-o", out, "--every", "2")
    assert r.returncode == 0, r.stderr
    assert "already done" in r.stderr
    after = (out / "predictions.csv").read_text()
    assert after.startswith(before) and after[len(before):].count("\n") == 1 and "extra.jpg" in after[len(before):]


@pytest.mark.parametrize("args, needle", [
    (["no/such/folder"], "no/such/folder: no such file or folder"),
    (["{media}", "-c", "no-such.pt"], "no-such.pt: no such checkpoint file"),
])
def test_bad_paths_exit_2(args, needle, media, ckpt, tmp_path):
    args = [a.format(media=media) for a in args]
    if "-c" not in args: args += ["-c", ckpt]
    r = run(*args, "-o", tmp_path)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("redetect", [1, 3])
def test_killed_run_resumes_to_the_same_output(ckpt, tmp_path, redetect):
    """SIGKILL after the first commit of a video, rerun: the output equals that of an uninterrupted run, track ids
    included. Three faces, the middle one gone after frame 1: the third keeps id 2 after the resume (a tracker started
    afresh there would call it 1)."""
    import signal, time
    video = tmp_path / "long.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (480, 200))
    face = astronaut()[:300, 60:360]
    for i in range(48):
        canvas = np.full((200, 480, 3), 200, np.uint8)
        for k, (side, x) in enumerate(((170, 5), (120, 190), (90, 330))):
            if k == 1 and i > 1: continue
            canvas[10:10 + side, x + i // 4:x + i // 4 + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        w.write(np.ascontiguousarray(canvas[..., ::-1]))
    w.release()
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    opts = ["-c", ckpt, "--commit-every", "4", "--batch-size", "1",  # batch 1: the same arithmetic in every run
            "--redetect", redetect]  # 3: faces followed between detections, commits where a block of 3 frames begins
    assert run(video, *opts, "-o", whole).returncode == 0
    p = subprocess.Popen([VLFAU, "predict", str(video), *map(str, opts), "-o", str(killed)],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger, t0 = killed / "ledger.jsonl", time.time()
    while p.poll() is None and not (ledger.exists() and ledger.read_text().count("\n") >= 1) and time.time() - t0 < 300:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    partial = ledger.read_text()
    assert '"done": false' in partial and '"done": true' not in partial   # killed mid-video, after a commit
    r = run(video, *opts, "-o", killed)
    assert r.returncode == 0, r.stderr
    for name in ("predictions.csv", "predictions.jsonl"):
        assert (killed / name).read_text() == (whole / name).read_text(), name
    df = pd.read_csv(whole / "predictions.csv")
    assert df[df.frame <= 1].face_id.tolist() == [0, 1, 2] * 2 and set(df[df.frame > 1].face_id) == {0, 2}
    first = json.loads(partial.splitlines()[0])["next_frame"]
    assert first < 47 and first % redetect == 0  # the resume started mid-video, where a block begins


def test_checkpoint_alone_is_enough(media, tmp_path):
    "In a folder with no params.yaml, `-c model.pt` is all it takes: the checkpoint holds its run's parameters."
    from vlfau.config import load_params
    from vlfau.model.checkpoint import save_checkpoint
    from vlfau.test_utils import tiny_model, tiny_vocab
    p = load_params(ROOT / "params.yaml", overrides=["evaluate.threshold=0.99"]).to_dict()
    save_checkpoint(tmp_path / "model.pt", tiny_model(), tiny_vocab(), extra={"params": p})
    r = run(media / "one.jpg", "-c", "model.pt", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    csv = pd.read_csv(next((tmp_path / "reports" / "predict").glob("*.csv")))
    probs = csv[[c for c in csv.columns if c.endswith("_p")]].to_numpy()
    states = csv[[c for c in csv.columns if c.endswith("_c")]].to_numpy()
    assert len(csv) == 1 and (probs >= 0.5).any()  # so that 0.5 and the run's threshold would decide differently
    assert ((probs >= 0.99) == states).all()       # the run's own threshold decides
    old = tmp_path / "old"; old.mkdir()
    save_checkpoint(old / "model.pt", tiny_model(), tiny_vocab(), extra={"threshold": 0.5})
    r = run(media / "one.jpg", "-c", "model.pt", cwd=old)
    assert r.returncode == 2 and "--params" in r.stderr and "model.pt" in r.stderr, r.stderr
