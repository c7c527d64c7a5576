"""`bag process --ray` on a real local Ray instance: 3 small bags, same bytes as local."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bag_helpers import run_cli, tiny_model
from test_bag_fleet import make_bag

ray = pytest.importorskip("ray", reason="Ray is the optional extra [fleet]; make test installs it")


def _bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_ray_matches_the_local_run_and_reports_failures_per_bag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local instance, started by the command
    monkeypatch.setenv("RAY_DEDUP_LOGS", "0")
    model = tiny_model(tmp_path / "red.onnx")
    inputs = [str(make_bag(tmp_path / "in" / name, n)) for name, n in (("r1", 4), ("r2", 6),
                                                                         ("r3", 3))]
    missing = str(tmp_path / "in" / "gone")
    common = ["--model", str(model), "--backend", "onnxruntime", "--no-progress",
              "--max-batch", "2"]
    code, _, err = run_cli(capsys, ["bag", "process", *inputs, "--out-dir",
                                        str(tmp_path / "local"), *common])
    assert code == 0, err
    code, summary, err = run_cli(capsys, ["bag", "process", *inputs, missing, "--out-dir",
                                          str(tmp_path / "ray"), "--ray", *common])
    assert code == 1, err  # the missing bag failed, the others did not
    assert summary is not None and summary["runner"] == "ray"
    assert summary["ray_address"] == "local"
    results = summary["results"]
    assert [r["status"] for r in results] == ["ok", "ok", "ok", "failed"]
    assert "not found" in results[3]["reason"]
    assert [r["masks"] for r in results[:3]] == [4, 6, 3]
    for name in ("r1", "r2", "r3"):
        assert _bytes(tmp_path / "ray" / name) == _bytes(tmp_path / "local" / name), name
    # the model is loaded once per Ray worker process, not once per bag
    pids = [r["worker"]["pid"] for r in results]
    loads = [r["worker"]["loaded_model"] for r in results]
    assert sum(loads) == len(set(pids))
    assert os.getpid() not in pids
    assert not ray.is_initialized()  # the local instance is shut down again
