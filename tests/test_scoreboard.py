"""The scoreboard script: paired differences from random, significance marks and the time columns."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "scoreboard.py"


@pytest.fixture(scope="module")
def scoreboard():
    spec = importlib.util.spec_from_file_location("scoreboard", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(method: str, seed: int, acc: float, budget: float = 0.1) -> dict:
    key = {"protocol": "oneshot", "dataset": "toy", "model": "cnn", "subset_budget": "steps", "method": method,
           "budget": budget, "budget_kind": "fraction", "seed": seed}
    timings = {"select": 2.0, "train_subset": 10.0, "signal": 5.0}
    if method == "full":
        timings = {"signal": 5.0, "train_full": 50.0}
    return {"key": key, "metrics": {"test_accuracy": acc}, "timings": timings}


def test_marks_only_differences_beyond_two_standard_errors(scoreboard):
    assert scoreboard.paired({0: 0.80, 1: 0.82, 2: 0.81}, {0: 0.70, 1: 0.71, 2: 0.72})[3] == "▲"
    assert scoreboard.paired({0: 0.60, 1: 0.61, 2: 0.62}, {0: 0.70, 1: 0.71, 2: 0.72})[3] == "▼"
    assert scoreboard.paired({0: 0.80, 1: 0.60, 2: 0.75}, {0: 0.70, 1: 0.71, 2: 0.72})[3] == ""  # noisy
    mean, _, k, mark = scoreboard.paired({0: 0.9}, {0: 0.7})
    assert (k, mark) == (1, "") and mean == pytest.approx(0.2)  # one seed: no mark


def test_tables_and_time_columns_from_results_lines(scoreboard, tmp_path):
    lines = [_record("uniform", s, 0.70 + 0.01 * s) for s in range(3)]
    lines += [_record("boss", s, 0.80 + 0.01 * s) for s in range(3)]
    lines += [_record("full", s, 0.9, budget=1.0) for s in range(3)]
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n{\"cut short")
    records = scoreboard.load([path])
    text = "\n".join(scoreboard.markdown(scoreboard.tables(records), scoreboard.timings(records)))
    assert "| boss | 0.8100 ± 0.0082 (+0.1000 ± 0.0000, ▲) |" in text
    assert "| boss | 2.0 / 10 |" in text and "Signal (proxy) training 5 s; full-data training 50 s" in text
    assert "| full data | 0.9000 ± 0.0000 |" in text


def test_methods_filter_keeps_random_and_full_and_dedup_and_unit_weights_are_their_own_settings(scoreboard, tmp_path):
    lines = [_record(m, s, 0.7) for m in ("uniform", "boss", "ccs") for s in range(2)]
    lines += [_record("full", 0, 0.9, budget=1.0)]
    deduped = _record("uniform", 0, 0.75)
    deduped["key"]["dedup"] = 0.5
    unit = _record("boss", 0, 0.6)
    unit["key"]["subset_weights"] = "uniform"
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [*lines, deduped, unit]))
    board = scoreboard.tables(scoreboard.load([path], {"boss"}))
    plain, = (s for s in board if len(s) == 4)  # dataset, model, protocol, subset_budget
    assert set(board[plain]) == {"uniform", "boss", "full"} and board[plain]["uniform"][0.1] == {0: 0.7, 1: 0.7}
    assert board[plain]["boss"][0.1] == {0: 0.7, 1: 0.7}
    assert any(("dedup", "0.5") in s for s in board) and any(("subset_weights", "uniform") in s for s in board)
