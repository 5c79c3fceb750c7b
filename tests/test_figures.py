"""`vlfau figures` as a user runs it: Figure 3 from the published tables alone, files that open offline, PNG and PDF
where a browser renders them (and the reason in the report where none does), exit codes."""
import json, os, shutil, subprocess, sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VLFAU = str(Path(sys.executable).with_name("vlfau"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, env=None):
    return subprocess.run([VLFAU, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def scratch(tmp_path):
    "Overrides that send the stage's inputs and outputs to `tmp_path` (no runs of ours there)."
    return ["--set", f"paths.reports={tmp_path}", "--set", f"paths.eval={tmp_path}/eval",
            "--set", f"paths.ablation={tmp_path}/ablation"]


@pytest.fixture(scope="module")
def browser():
    "A Chrome/Chromium for kaleido; installed with apt-get when missing and the test runs as root, else a skip."
    try: kaleido = version("kaleido")
    except PackageNotFoundError: pytest.skip("PNG and PDF need kaleido>=1, which is not installed")
    if int(kaleido.split(".")[0]) < 1: pytest.skip(f"PNG and PDF need kaleido>=1, found {kaleido}")
    from vlfau.core import VlfauError
    from vlfau.report.figures import find_browser
    try: return find_browser()
    except VlfauError as e: why = str(e)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{why}; the test installs one only as root with apt-get")
    apt = lambda *a: subprocess.run(["apt-get", *a], capture_output=True, text=True, timeout=900,
                                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    r = apt("install", "-y", "chromium")
    if r.returncode != 0:  # a stale package list: refresh it once
        apt("update"); r = apt("install", "-y", "chromium")
    try: return find_browser()
    except VlfauError as e:
        pytest.skip(f"{e}; `apt-get install -y chromium` failed: {' '.join(r.stderr.split())[-300:]}")


def test_fig3_without_runs_of_ours(tmp_path):
    r = run("figures", "--only", "fig3", *scratch(tmp_path), "--set", "figures.png=false")
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "figures" / "fig3.html").read_text()
    assert 'src="http' not in html and len(html) > 1_000_000  # plotly.js inside the page
    rec = json.loads((tmp_path / "figures" / "figures.json").read_text())
    fig3 = rec["figures"]["fig3"]
    assert fig3["ours"] == [] and fig3["png"] is None and fig3["pdf"] is None and "figures.png: false" in fig3["image_note"]
    assert fig3["title"] == "Figure 3: multi-label performance balance"
    assert {p["source"] for p in fig3["points"]} == {"published"} and len(fig3["points"]) == 11
    assert rec["provenance"]["profile"] == "none (no evaluation results)"  # labels come from results, and there are none
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["fig3.html", "figures.json"]


def test_png_and_pdf_with_a_browser(tmp_path, browser):
    r = run("figures", "--only", "fig3", *scratch(tmp_path), "--set", "figures.png=true", env={"BROWSER_PATH": browser})
    assert r.returncode == 0, r.stderr
    out = tmp_path / "figures"
    png, pdf = (out / "fig3.png").read_bytes(), (out / "fig3.pdf").read_bytes()
    assert png[:8] == PNG_MAGIC and pdf[:5] == b"%PDF-" and b"%%EOF" in pdf[-1024:]
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (900, 650)  # Figure 3's layout size
    fig3 = json.loads((out / "figures.json").read_text())["figures"]["fig3"]
    assert fig3["png"] == str(out / "fig3.png") and fig3["pdf"] == str(out / "fig3.pdf") and fig3["image_note"] is None
    assert run("report", *scratch(tmp_path)).returncode == 0
    index = (tmp_path / "index.md").read_text()
    assert "### [Figure 3: multi-label performance balance](figures/fig3.html)" in index
    assert "![Figure 3: multi-label performance balance](figures/fig3.png)" in index
    assert "[PDF](figures/fig3.pdf)" in index and "- no PNG" not in index


def test_no_browser_keeps_the_html_and_says_why(tmp_path):
    missing = tmp_path / "no-chromium"
    r = run("figures", "--only", "fig3", *scratch(tmp_path), "--set", "figures.png=true", env={"BROWSER_PATH": str(missing)})
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["fig3.html", "figures.json"]
    assert run("report", *scratch(tmp_path)).returncode == 0
    index = (tmp_path / "index.md").read_text()
    assert "### [Figure 3: multi-label performance balance](figures/fig3.html)" in index
    assert (f"- no PNG or PDF: BROWSER_PATH={missing} is not an executable file\n" in index
            or "- no PNG or PDF: kaleido is not installed" in index)


def test_fig4_without_checkpoints_exits_2(tmp_path):
    r = run("figures", "--only", "fig4", "--set", f"paths.runs={tmp_path}/runs", "--set", f"paths.reports={tmp_path}",
            "--set", f"paths.ablation={tmp_path}/ablation")
    assert r.returncode == 2
    assert "model.pt" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "figures" / "fig4.html").exists()
