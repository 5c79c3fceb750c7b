"""A tiny synthetic DISFA, aligned and captioned, and a tiny model configuration: what the training tests run on."""
import os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
VLFAU, TORCHRUN = str(BIN / "vlfau"), str(BIN / "torchrun")

# 27 subjects x 4 frames; fold 1 trains on 72 frames: 6 steps of 12 per epoch (12, and 6 per rank, differ from
# the 8 AUs: vlfau.model.dair.PerAULinear takes a batch of exactly A pooled vectors for per-AU inputs). A model of a few hundred thousand
# parameters at 64 px, so that a run of 3 epochs takes seconds.
TINY = ["data.datasets=[disfa]", "model.backbone=swin_tiny_patch4_window7_224", "synth.disfa_frames=4", "align.workers=1", "data.resize=72", "data.crop=64",
        "model.backbone_kwargs={img_size: 64, embed_dim: 16, depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2], window_size: 2}",
        "model.d=32", "model.hidden=32", "model.embed=16", "model.reduction=4", "data.num_workers=0",
        "train.epochs=3", "train.min_steps=0", "train.batch_size=12", "train.ckpt_every=2", "train.lr=0.003", "evaluate.batch_size=36"]

PREPARE = """
from vlfau.cli import main
from vlfau.config import load_params
from vlfau.data.synth import write_twin
import sys
over = sys.argv[1:]
write_twin(load_params("params.yaml", overrides=over), ["disfa"])
for stage in ("manifest", "folds", "align", "captions"):
    assert main([stage, "--set", "align.workers=1", *[a for o in over for a in ("--set", o)]]) == 0, stage
"""


def sets(overrides):
    "['--set', o, ...] for every override."
    return [a for o in overrides for a in ("--set", o)]


def make_tiny_twin(folder: Path) -> Path:
    "Write the tiny twin and every stage before training into `folder` (the working directory of the runs)."
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    r = subprocess.run([sys.executable, "-c", PREPARE, *TINY], cwd=folder, capture_output=True, text=True, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    return folder


# one thread per process: faster for these tiny models on a shared machine, and the same in every run compared
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(args, cwd, timeout=600, env=None):
    "Run a command; return the CompletedProcess."
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**ENV, **(env or {})})
