"""`vlfau figures` as a user runs it: Figure 3 from the published tables alone, files that open offline, exit codes."""
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VLFAU = str(Path(sys.executable).with_name("vlfau"))


def run(*args):
    return subprocess.run([VLFAU, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_fig3_without_runs_of_ours(tmp_path):
    r = run("figures", "--only", "fig3", "--set", f"paths.reports={tmp_path}", "--set", f"paths.eval={tmp_path}/eval",
            "--set", f"paths.ablation={tmp_path}/ablation", "--set", "figures.png=false")
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "figures" / "fig3.html").read_text()
    assert 'src="http' not in html and len(html) > 1_000_000  # plotly.js inside the page
    rec = json.loads((tmp_path / "figures" / "figures.json").read_text())
    fig3 = rec["figures"]["fig3"]
    assert fig3["ours"] == [] and fig3["png"] is None and "figures.png: false" in fig3["png_note"]
    assert {p["source"] for p in fig3["points"]} == {"published"} and len(fig3["points"]) == 11
    assert rec["provenance"]["profile"] == "demo"


def test_fig4_without_checkpoints_exits_2(tmp_path):
    r = run("figures", "--only", "fig4", "--set", f"paths.runs={tmp_path}/runs", "--set", f"paths.reports={tmp_path}",
            "--set", f"paths.ablation={tmp_path}/ablation")
    assert r.returncode == 2
    assert "model.pt" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "figures" / "fig4.html").exists()
