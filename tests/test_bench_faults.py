"""benchmarks/bench_faults.py --quick: a SIGINT and then a SIGKILL, each landing inside a
(slowed) checkpoint write of a real train.py process, and the resumes that must finish the run
with every epoch and the optimizer's full step count. The full measurement is
benchmarks/results/faults.md."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))
import bench_faults


@pytest.mark.slow
def test_sigint_and_sigkill_inside_checkpoint_writes_then_resume(tmp_path):
    code = bench_faults.main(["--quick", "--output", str(tmp_path)])
    rows = [json.loads(line) for line in (tmp_path / "faults.jsonl").read_text().splitlines()]
    assert [row["signal"] for row in rows] == ["SIGINT", "SIGKILL"], rows
    assert all(row["moment"] == "checkpoint write" for row in rows), rows
    assert all(row["survived"] for row in rows) and code == 0, rows
    assert rows[0]["exit_code"] == 130 and rows[1]["exit_code"] == -9
    report = (tmp_path / "faults.md").read_text()
    assert "| SIGINT | **all** | 1 | 1 |" in report and "| SIGKILL | **all** | 1 | 1 |" in report


def test_quick_never_writes_into_the_measured_results(capsys):
    with pytest.raises(SystemExit) as done:
        bench_faults.main(["--quick", "--output", bench_faults.RESULTS])
    assert done.value.code == 2 and "--quick never writes into" in capsys.readouterr().err
