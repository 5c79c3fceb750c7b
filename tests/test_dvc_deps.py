"""dvc.yaml's code dependencies are the code that runs: for every stage, the modules its command imports (the whole
import closure, imports inside functions included) must each be a dependency of that stage, or DVC would call
results up to date after a change that alters them. Also: decode-time parameters are not training's."""
import ast, json, re
from pathlib import Path

import pytest
import yaml

from vlfau.cli import STAGES

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "vlfau"
# vlfau/__init__.py holds only the version string (a release would otherwise re-run everything); empty
# __init__.py files run nothing
SKIP = {"vlfau/__init__.py"}


def module_path(name: str) -> Path | None:
    "The file of module `name` (vlfau.x.y), or None when it is not part of the package."
    parts = name.split(".")
    if parts[0] != "vlfau": return None
    base = ROOT.joinpath(*parts)
    if base.with_suffix(".py").is_file(): return base.with_suffix(".py")
    if (base / "__init__.py").is_file(): return base / "__init__.py"
    return None


def imported_modules(source: str, module: str = "") -> set[str]:
    """vlfau modules a source imports anywhere (top level, functions, `importlib.import_module('vlfau...')`), and those
    it names in strings (registries it imports from). vlfau.cli's table of stages is resolved from the command instead."""
    out, pkg = set(), module.rsplit(".", 1)[0] if module else ""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import): out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}  # `from vlfau.model import checkpoint` imports a module
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module" \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            out.add(node.args[0].value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and module != "vlfau.cli" \
                and re.fullmatch(r"vlfau(\.\w+)+", node.value):
            out.add(node.value)  # a registry of modules by name, e.g. vlfau.data.manifest.READERS
    return {m for m in out if module_path(m) is not None}


def closure(modules: set[str]) -> set[str]:
    "Repo-relative files of `modules` and everything they import, with their packages' __init__.py."
    todo, seen = list(modules), set()
    while todo:
        m = todo.pop()
        if m in seen or module_path(m) is None: continue
        seen.add(m)
        parts = m.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b.c runs a and a.b first
        todo += imported_modules(module_path(m).read_text(), m if module_path(m).name != "__init__.py" else m + ".x")
    files = {module_path(m) for m in seen}
    return {str(f.relative_to(ROOT)) for f in files if f.stat().st_size or f.name != "__init__.py"} - SKIP


def notebook_source(path: Path) -> str:
    "The code cells of a notebook, without IPython magics."
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return "\n".join(l for l in code.splitlines() if not l.lstrip().startswith(("%", "!")))


def stage_entries(cmd: str) -> set[str]:
    "The modules a stage's command runs: `vlfau <stage>` (through vlfau.cli) and notebooks run by papermill."
    mods = set()
    for stage in re.findall(r"(?:^|&&|\s)vlfau\s+([a-z]+)", cmd):
        mods |= {"vlfau.cli", STAGES[stage][0]}
    for nb in re.findall(r"papermill\s+(\S+\.ipynb)", cmd):
        mods |= imported_modules(notebook_source(ROOT / nb))
    return mods


def stages():
    "(name, cmd, deps) of every stage in dvc.yaml, with ${...} left in place (code paths do not use them)."
    for name, st in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        cmd = st.get("cmd") or st["do"]["cmd"]
        deps = st.get("deps") or st.get("do", {}).get("deps") or []
        yield name, cmd, [d if isinstance(d, str) else next(iter(d)) for d in deps]


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def test_closure_finds_imports():
    "The closure itself: lazy imports inside functions and relative imports are seen."
    src = "import os\ndef f():\n    from vlfau.model.checkpoint import load_checkpoint\n    from . import metrics\n"
    assert imported_modules(src, "vlfau.evaluate") >= {"vlfau.model.checkpoint", "vlfau.metrics"}
    c = closure({"vlfau.evaluate"})
    assert "vlfau/evaluate.py" in c and "vlfau/metrics.py" in c and "vlfau/core.py" in c
    assert not covered("vlfau/modelx.py", ["vlfau/model"]) and covered("vlfau/model/stem.py", ["vlfau/model"])


@pytest.mark.parametrize("name, cmd, deps", list(stages()), ids=[s[0] for s in stages()])
def test_stage_deps_are_its_import_closure(name, cmd, deps):
    need = closure(stage_entries(cmd))
    assert need, f"{name}: no module found in its command {cmd!r}"
    missing = sorted(p for p in need if not covered(p, deps))
    assert not missing, f"dvc.yaml stage {name!r} runs code it does not list in deps: {missing}"


def test_decode_time_params_do_not_retrain():
    "Threshold, beam width, length normalisation and n-gram blocking are read by evaluation, figures and prediction, not training."
    st = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    train = st["train"]["params"]
    from vlfau.config import ModelParams
    from vlfau.model.checkpoint import DECODE_KEYS
    decode = {f"model.{k}" for k in DECODE_KEYS}
    assert decode == {"model.beam", "model.length_norm", "model.no_repeat"}
    assert not any(p in ("model", "evaluate") or p.startswith("evaluate.") or p in decode for p in train), train
    weights = [f"model.{f}" for f in ModelParams.__dataclass_fields__ if f not in DECODE_KEYS]
    assert set(weights) <= set(train), sorted(set(weights) - set(train))  # every key that shapes the weights is listed
    for decoding in ("evaluate", "figures"):
        ps = st[decoding]["params"]
        assert "model" in ps or decode <= set(ps), (decoding, ps)
