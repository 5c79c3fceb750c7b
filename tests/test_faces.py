"""Faces in real photographs: group photos, small faces in 4K, greyscale, RGBA, rotation, a profile, and tracks in a video.

The photographs are public-domain samples shipped by registry packages: scikit-image's astronaut (Eileen Collins,
NASA) and cameraman, and Matplotlib's Grace Hopper (US Navy). Composites of them are built here, small and in memory.
"""
import subprocess, sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vlfau.align.landmarks import FaceDetector, default_detector
from vlfau.align.warp import align_face, template

ROOT = Path(__file__).resolve().parents[1]
SIZE = 256  # aligned crop side for the re-detection check


def _photos():
    import matplotlib.cbook as cbook
    import skimage.data
    from PIL import Image
    hopper = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    return {"astronaut": skimage.data.astronaut(), "hopper": hopper,
            "camera": np.repeat(skimage.data.camera()[..., None], 3, 2)}


PHOTOS = _photos()


def face_crop(name: str, height: int) -> np.ndarray:
    "The photograph's face with a margin, scaled so that the detector's face box is about `height` px high."
    img = PHOTOS[name]
    (f,) = default_detector()(img)
    x0, y0, x1, y1 = f.box
    cx, cy, h = (x0 + x1) / 2, (y0 + y1) / 2, y1 - y0
    half = 0.9 * h  # the crop is 1.8 face heights square
    crop = img[max(0, int(cy - half)):int(cy + half), max(0, int(cx - half)):int(cx + half)]
    k = height / h
    return cv2.resize(crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))), interpolation=cv2.INTER_AREA)


def paste(canvas: np.ndarray, img: np.ndarray, x: int, y: int) -> None:
    canvas[y:y + img.shape[0], x:x + img.shape[1]] = img[:canvas.shape[0] - y, :canvas.shape[1] - x]


def eye_error(rgb: np.ndarray, face, detector) -> float:
    "Largest distance of a re-detected eye centre from the template's, as a share of the aligned crop's width."
    crop = align_face(rgb, face.points, SIZE)
    again = detector(crop)
    assert again, "no face found again on the aligned crop"
    g = min(again, key=lambda q: np.linalg.norm(q.points[:2].mean(0) - template(SIZE)[:2].mean(0)))
    return float(np.linalg.norm(g.points[:2] - template(SIZE)[:2], axis=1).max() / SIZE)


def group_photo() -> tuple[np.ndarray, int]:
    "Six people in a row, faces about 100 px high in a 1000 px wide photo; the cameraman (in profile) is the fourth."
    canvas = np.full((420, 1000, 3), 205, np.uint8)
    names = ["astronaut", "hopper", "astronaut", "camera", "hopper", "astronaut"]
    for i, name in enumerate(names):
        img = face_crop(name, 100)
        img = img[:, ::-1] if i % 2 else img  # mirrored every other one: not six copies of one picture
        paste(canvas, img, 10 + i * 165, 100 + (i % 2) * 60)
    return canvas, len(names)


@pytest.fixture(scope="module")
def det():
    d = FaceDetector()
    yield d
    d.close()


def test_group_photo_every_face_aligned(det):
    img, n = group_photo()
    faces = det(img)
    assert len(faces) == n and det.dropped == []
    assert all(0.5 <= f.score <= 1 for f in faces)
    frontal = [f for f in faces if abs(f.pose[0]) < 45]
    profile = [f for f in faces if abs(f.pose[0]) >= 45]
    assert len(frontal) == n - 1 and len(profile) == 1 and "profile" in profile[0].quality   # the cameraman
    for f in frontal:
        assert f.source == "landmarker" and eye_error(img, f, det) < 0.03, (f.box, f.pose)


@pytest.mark.parametrize("variant", ["grey", "rgba", "rotated"])
def test_group_photo_variants(det, variant):
    img, n = group_photo()
    if variant == "grey": img = img.mean(2).astype(np.uint8)
    elif variant == "rgba": img = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    else:
        h, w = img.shape[:2]
        img = cv2.warpAffine(img, cv2.getRotationMatrix2D((w / 2, h / 2), 20, 0.8), (w, h), borderValue=(205, 205, 205))
    faces = det(img)
    assert len(faces) == n, [f.box.round() for f in faces]
    rgb = img if img.ndim == 3 and img.shape[2] == 3 else (np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3])
    for f in faces:
        if abs(f.pose[0]) < 45: assert eye_error(rgb, f, det) < 0.03, (variant, f.box, f.pose)
    if variant == "rotated":  # counter-clockwise by 20 degrees: every face's roll says so
        assert all(abs(f.pose[2] + 20) < 8 for f in faces if abs(f.pose[0]) < 45), [np.round(f.pose) for f in faces]


def test_small_faces_in_4k():
    "36 faces from 32 to 200 px high in a 3840 x 2160 frame: the 32 largest explained by default, the rest counted."
    canvas = np.full((2160, 3840, 3), 90, np.uint8)
    heights = [32, 40, 56, 80, 120, 200]
    names = ["astronaut", "hopper", "astronaut", "hopper", "astronaut", "hopper"]
    for r, h in enumerate(heights):
        for c in range(6):
            paste(canvas, face_crop(names[(r + c) % 6], h), 60 + c * 620, 60 + r * 350)
    with FaceDetector(max_faces=40) as d:
        faces = d(canvas)
        assert len(faces) == 36 and d.dropped == []
        found = sorted(round(f.box[3] - f.box[1]) for f in faces)
        assert found[0] >= 24 and found[-1] <= 240, found
        for f in faces: assert eye_error(canvas, f, d) < 0.03, (f.box, f.eye_distance)
    with FaceDetector() as d:
        faces = d(canvas)
        assert len(faces) == 32 and len(d.dropped) == 4
        assert min(f.area for f in faces) >= max(g.area for g in d.dropped)  # the largest are kept


def test_profile_reported_with_pose(det):
    (f,) = det(PHOTOS["camera"])
    (m,) = det(PHOTOS["camera"][:, ::-1].copy())
    assert abs(f.pose[0]) > 45 and "profile" in f.quality
    assert np.sign(f.pose[0]) == -np.sign(m.pose[0])  # the mirror image turns the other way


def paste_round(canvas: np.ndarray, img: np.ndarray, x: int, y: int, radius: float) -> None:
    "Paste the disc of `radius` px around `img`'s centre, so that a face can pass in front of another without hiding it all."
    h, w = img.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    sub = canvas[y:y + h, x:x + w]
    m = (((xx - w / 2) ** 2 + (yy - h / 2) ** 2) <= radius ** 2)[:sub.shape[0], :sub.shape[1]]
    sub[m] = img[:sub.shape[0], :sub.shape[1]][m]


def crossing_video(path: Path, frames: int = 36) -> None:
    """The astronaut walks right; Grace Hopper, smaller, walks left in front of her (their face boxes overlap in frames
    15-21, IoU up to about 0.25), stops at frame 24, is away for frames 26-31, and returns."""
    a, b = face_crop("astronaut", 110), face_crop("hopper", 80)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 360))
    for i in range(frames):
        canvas = np.full((360, 640, 3), 200, np.uint8)
        paste_round(canvas, a, 20 + 12 * i, 40, 0.8 * 110 + 10)
        if not 26 <= i < 32: paste_round(canvas, b, 480 - 12 * min(i, 24), 110, 0.65 * 80)
        w.write(np.ascontiguousarray(canvas[..., ::-1]))
    w.release()


@pytest.mark.parametrize("redetect", [1, 4])
def test_tracks_through_a_crossing(tmp_path, redetect):
    "Ids hold through the crossing and the absence, whether every frame is detected or the faces are followed between detections."
    from vlfau.config import Params
    from vlfau.predict import Predictor, _preprocessing
    from vlfau.test_utils import tiny_model, tiny_vocab
    crossing_video(tmp_path / "walk.avi")
    data, align_size = _preprocessing({}, Params(), img_size=64)
    with Predictor(tiny_model(), tiny_vocab(), data, align_size, describe="none", redetect=redetect) as pred:
        rows = [r for r in pred.predict(tmp_path / "walk.avi") if r.status == "ok"]
    by_frame = {}
    for r in rows: by_frame.setdefault(r.frame, []).append(r)
    assert len(by_frame) == 36
    ids = {}
    for frame, rs in sorted(by_frame.items()):
        for r in rs:
            who = "astronaut" if r.box[1] + r.box[3] / 2 < 160 else "hopper"  # face centres at y = 139 and 185 (sizes swap in the crossing)
            ids.setdefault(who, set()).add(r.face_id)
    assert ids == {"astronaut": {0}, "hopper": {1}}, ids  # through the crossing and the absence
    from vlfau.align.landmarks import box_iou
    overlap = [f for f, rs in by_frame.items() if len(rs) == 2 and box_iou(*[np.r_[r.box[:2], np.add(r.box[:2], r.box[2:])] for r in rs]) > 0.1]
    assert len(overlap) >= 3, overlap  # the two faces did cross: their boxes overlap
    assert [len(by_frame[f]) for f in range(36)] == [2] * 26 + [1] * 6 + [2] * 4  # with redetect 4: back at a block's start
    with Predictor(tiny_model(), tiny_vocab(), data, align_size, describe="none", track_age=3, redetect=redetect) as pred:
        late = [r for r in pred.predict(tmp_path / "walk.avi") if r.status == "ok" and r.frame >= 32]
    assert sorted({r.face_id for r in late}) == [0, 2]  # away longer than track_age: a new id


def test_predict_cli_describe_none_and_pose_columns(tmp_path):
    "The command line on the group photo: one row per face, pose and quality filled, no text with --describe none."
    import pandas as pd
    from PIL import Image
    from vlfau.model.checkpoint import save_checkpoint
    from vlfau.test_utils import tiny_model, tiny_vocab
    img, n = group_photo()
    Image.fromarray(img).save(tmp_path / "group.jpg", quality=95)
    save_checkpoint(tmp_path / "tiny.pt", tiny_model(), tiny_vocab(), extra={"threshold": 0.5})
    r = subprocess.run([str(Path(sys.executable).with_name("vlfau")), "predict", str(tmp_path / "group.jpg"), "-c", str(tmp_path / "tiny.pt"),
                        "-o", str(tmp_path / "out"), "--describe", "none", "--max-faces", "5"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    df = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False)
    assert len(df) == n and df.status.tolist() == ["ok"] * 5 + ["skipped"] and (df.faces == n).all()
    assert df.face_id.tolist() == list(range(n)) and "max_faces = 5" in df.reason.iloc[-1]
    assert (df[["yaw", "pitch", "roll"]].astype(str) != "").all().all()
    assert {q for qs in df.quality for q in qs.split(",")} <= {"good", "profile", "pitched", "small", "blurred", "uncertain",
                                                             "coarse_landmarks", "no_pose"}
    assert (df.quality.str.contains("profile")).sum() == 1  # the cameraman
    text = [c for c in df.columns if c.endswith("_text")] + ["global_text"]
    assert (df[text] == "").all().all()
    assert (df[[c for c in df.columns if c.endswith("_p")]].iloc[:5] != "").all().all()
