"""`vlfau train` killed with SIGKILL (twice) and rerun ends bitwise equal to an uninterrupted run; evaluate and tables on the result."""
import json, shutil, signal, subprocess, time

import pytest
import torch

from tiny_pipeline import ENV, TINY, VLFAU, make_tiny_twin, run, sets


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    return make_tiny_twin(tmp_path_factory.mktemp("twin"))


def train_cmd(runs):
    return [VLFAU, "train", "--dataset", "disfa", "--fold", "1", *sets(TINY + [f"paths.runs={runs}"])]


def kill_after_checkpoint(cmd, cwd, state, after_mtime=None, timeout=300):
    "Start `cmd`, SIGKILL it as soon as `state` is (re)written; return the process's exit code."
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    t = time.time()
    while p.poll() is None and time.time() - t < timeout:
        if state.exists() and state.stat().st_mtime != after_mtime:
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    return p.wait()


def weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def runs(twin):
    "An uninterrupted run (a) and a run killed twice and resumed (b)."
    a = run(train_cmd(twin / "a"), twin)
    assert a.returncode == 0, a.stderr[-3000:]
    state = twin / "b" / "disfa" / "fold1" / "full" / "state.pt"
    assert kill_after_checkpoint(train_cmd(twin / "b"), twin, state) == -signal.SIGKILL
    first = state.stat().st_mtime
    assert kill_after_checkpoint(train_cmd(twin / "b"), twin, state, after_mtime=first) == -signal.SIGKILL
    assert not (state.parent / "model.pt").exists()  # both kills came before the end
    b = run(train_cmd(twin / "b"), twin)
    assert b.returncode == 0, b.stderr[-3000:]
    return twin, a, b


def test_killed_run_resumes_to_the_same_weights_and_metrics(runs):
    twin, a, b = runs
    assert "resuming" in b.stdout
    ra, rb = (twin / x / "disfa" / "fold1" / "full" for x in "ab")
    wa, wb = weights(ra / "model.pt"), weights(rb / "model.pt")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)  # bitwise
    assert (ra / "metrics.json").read_text() == (rb / "metrics.json").read_text()
    ha = torch.load(ra / "state.pt", weights_only=True)["history"]
    hb = torch.load(rb / "state.pt", weights_only=True)["history"]
    assert ha == hb and len(ha) == 3 and ha[-1]["step"] == 18
    assert (ra / "live" / "metrics.json").read_text() == (rb / "live" / "metrics.json").read_text()
    assert ha[-1]["loss/total"] < ha[0]["loss/total"]


def test_rerun_of_a_finished_run_changes_nothing(runs):
    twin, _, _ = runs
    r = twin / "a" / "disfa" / "fold1" / "full"
    before = weights(r / "model.pt")
    again = run(train_cmd(twin / "a"), twin)
    assert again.returncode == 0 and "resuming" in again.stdout
    after = weights(r / "model.pt")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_other_parameters_than_a_finished_run_train_again(runs):
    twin, _, _ = runs
    shutil.copytree(twin / "a", twin / "a2")
    r = run(train_cmd(twin / "a2") + ["--set", "train.lr=0.005"], twin)
    assert r.returncode == 0 and "train.lr = 0.003, now 0.005: training again" in r.stdout, r.stdout + r.stderr[-3000:]
    st = torch.load(twin / "a2" / "disfa" / "fold1" / "full" / "state.pt", weights_only=True)
    assert st["config"]["train"]["lr"] == 0.005 and st["epoch"] == st["config"]["train"]["epochs"]
    before, after = weights(twin / "a" / "disfa" / "fold1" / "full" / "model.pt"), weights(twin / "a2" / "disfa" / "fold1" / "full" / "model.pt")
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_other_parameters_than_an_interrupted_run_fail_clearly(twin):
    state = twin / "c" / "disfa" / "fold1" / "full" / "state.pt"
    kill_after_checkpoint(train_cmd(twin / "c"), twin, state)
    saved = state.read_bytes()
    st = torch.load(state, weights_only=True)
    assert st["pos"] > 0 or st["epoch"] < st["config"]["train"]["epochs"]  # killed mid-run
    r = run(train_cmd(twin / "c") + ["--set", "train.lr=0.5"], twin)
    assert r.returncode == 2 and "train.lr = 0.003" in r.stderr and "--restart" in r.stderr, r.stderr
    assert state.read_bytes() == saved


def test_evaluate_and_tables(runs):
    twin, _, _ = runs
    rep = twin / "reports"
    common = sets(TINY + [f"paths.runs={twin / 'a'}", f"paths.reports={rep}", f"paths.eval={rep / 'eval'}"])
    e = run([VLFAU, "evaluate", "--dataset", "disfa", "--fold", "1", *common], twin)
    assert e.returncode == 0, e.stderr[-3000:]
    m = json.loads((rep / "eval" / "disfa" / "fold1" / "full.json").read_text())
    assert m["data"] == "synthetic twin" and m["frames"] == 36 and m["align_failures"] == 0
    assert set(m["f1"]) == {f"AU{a}" for a in (1, 2, 4, 6, 9, 12, 25, 26)}
    assert 0 <= m["word_acc"]["local"] <= 1 and 0 <= m["consistency"]["local"]["share"] <= 1
    assert m["consistency"]["local"]["decisions"] == 36 * 8 and m["consistency"]["global"]["frames"] == 36
    ex = m["explain"]  # the explanation metrics beside the older shares
    assert set(ex) == {"local", "global", "fluency", "text", "subject"} and 0 <= ex["local"]["balanced"] <= 1 and m["seed"] == 0
    assert ex["subject"]["frames"] == 36 and 0 <= ex["subject"]["balanced"] <= 1  # every twin frame has a gender
    assert ex["global"]["exact"] == m["consistency"]["global"]["share"] and 0 <= ex["global"]["agreement"] <= 1
    assert ex["text"]["global"]["n"] == 36 and ex["text"]["local"]["n"] == sum(map(sum, m["counts"].values()))  # known labels
    assert 0 <= ex["fluency"]["local"]["share"] <= 1 and 0 <= ex["fluency"]["global"]["share"] <= 1
    assert "balanced agreement" in e.stdout and "fluency local" in e.stdout
    pred = (rep / "eval" / "disfa" / "fold1" / "full_predictions.csv").read_text().splitlines()
    assert len(pred) == 37 and pred[0].startswith("key,subject,au1,p1,pred1")
    t = run([VLFAU, "tables", *common], twin)
    assert t.returncode == 0, t.stderr[-3000:]
    t1 = (rep / "tables" / "table1.md").read_text()
    assert "ours: full (synthetic twin, demo profile, fold 1 of 3)" in t1 and "VL-FAU (paper)" in t1
    ex_md = (rep / "tables" / "explanations_disfa.md").read_text()
    assert "| local: balanced agreement (mean over AUs of the present and absent sides) |" in ex_md and "| fold 1 | mean |" in ex_md


def test_missing_model_is_a_clear_error(twin):
    e = run([VLFAU, "evaluate", "--dataset", "disfa", "--fold", "2", *sets(TINY + [f"paths.runs={twin / 'none'}"])], twin)
    assert e.returncode == 2 and "no trained model" in e.stderr
