"""The dynamic bench protocol: full training against InfoBatch, per-epoch random and reselect (digits, seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from coreselect.bench import BenchConfig, ResultStore
from coreselect.bench.protocols import dynamic
from coreselect.bench.report import write_report
from coreselect.bench.runner import run_bench
from coreselect.errors import InputError
from coreselect.train import steps_per_epoch

EPOCHS = 3
INFOBATCH = "infobatch:delta=0.125:prune_ratio=0.5"


def _config(out: Path, **kw) -> BenchConfig:
    base = {"dataset": "digits", "protocol": "dynamic", "out": out, "methods": ("craig", "gradmatch"),
            "fractions": (0.2,), "seeds": 1, "epochs": EPOCHS, "device": "cpu"}
    return BenchConfig(**{**base, **kw})


def _records(out: Path) -> dict[str, dict]:
    return {r["key"]["method"]: r for r in ResultStore(out).records()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dynamic")
    run_bench(_config(out))
    return out


def test_every_arm_is_recorded_with_its_compute_and_ratios_to_full(finished):
    records = _records(finished)
    assert set(records) == {"full", INFOBATCH, f"random@{INFOBATCH}", "random", "reselect:craig:every=1",
                            "reselect:gradmatch:every=1"}
    full = records["full"]
    n = full["size"]
    assert full["examples"] == EPOCHS * n and full["steps"] == EPOCHS * steps_per_epoch(n, 128)
    assert full["metrics"]["speedup"] == 1 and full["metrics"]["compute_saved"] == 0
    for method, r in records.items():
        assert r["key"]["protocol"] == "dynamic" and r["key"]["model"] == "mlp" and r["key"]["epochs"] == EPOCHS
        m, t = r["metrics"], r["timings"]
        assert set(m) == {"test_accuracy", "final_train_loss", "accuracy_change", "speedup", "compute_saved"}
        assert 0 < m["test_accuracy"] <= 1 and m["final_train_loss"] > 0
        assert set(t) == {"total", "select", "train"} and t["total"] > 0 and 0 <= t["select"] <= t["total"]
        assert t["train"] == pytest.approx(t["total"] - t["select"])
        assert m["accuracy_change"] == pytest.approx(m["test_accuracy"] - full["metrics"]["test_accuracy"])
        assert m["speedup"] == pytest.approx(full["timings"]["total"] / t["total"])
        assert m["compute_saved"] == pytest.approx(1 - r["examples"] / full["examples"])
        assert r["size"] == round(r["examples"] / EPOCHS)
    assert records[INFOBATCH]["examples"] < full["examples"]  # pruned epochs
    assert records[f"random@{INFOBATCH}"]["size"] == records[INFOBATCH]["size"]  # matched compute
    m = round(0.2 * n)
    assert records["random"]["examples"] == EPOCHS * m
    assert records["reselect:craig:every=1"]["examples"] == EPOCHS * m
    assert records["reselect:gradmatch:every=1"]["examples"] <= EPOCHS * m  # NNLS zeros dropped
    for method in ("reselect:craig:every=1", "reselect:gradmatch:every=1"):
        assert records[method]["timings"]["select"] > records["random"]["timings"]["select"]
    md, _ = write_report(finished)
    assert INFOBATCH in md.read_text() and "compute_saved" in md.read_text()


def test_same_seed_same_models(finished, tmp_path):
    run_bench(_config(tmp_path, options={"arms": "infobatch"}))
    again, first = _records(tmp_path), _records(finished)
    assert set(again) == {"full", INFOBATCH}
    for method in again:
        assert again[method]["metrics"]["test_accuracy"] == first[method]["metrics"]["test_accuracy"]
        assert again[method]["examples"] == first[method]["examples"]


@pytest.mark.parametrize("change, message", [
    ({"options": {"arms": "infobatch,greedy"}}, "unknown arm(s) greedy"),
    ({"options": {"prune_ratio": "1"}}, "prune_ratio"),
    ({"options": {"delta": "1.5"}}, "delta"),
    ({"options": {"every": "0"}}, "every"),
    ({"methods": ("prune",)}, "needs el2n"),
])
def test_bad_input_fails_before_any_training(tmp_path, monkeypatch, change, message):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the input")

    monkeypatch.setattr(dynamic, "train_dynamic", no_training)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_bench(_config(out, **change))
    assert not out.exists()
