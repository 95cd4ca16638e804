"""``python -m gatedrnn`` (info, bench) in a subprocess, and the bench engine's pieces
(the NumPy baseline, the output check, the timing loop) in-process."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gatedrnn
from gatedrnn import bench, reference


def run_cli(*args, env_extra=None, env_drop=(), timeout=600):
    """Run ``python -m gatedrnn ARGS`` with this interpreter and this gatedrnn."""
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(gatedrnn.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "gatedrnn", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def parse_table(text):
    """The rows of the markdown table whose header starts with 'cell', as dicts."""
    lines = [ln.strip() for ln in text.splitlines()]
    for i, ln in enumerate(lines):
        if ln.startswith("| cell |"):
            header = [c.strip() for c in ln.strip("|").split("|")]
            rows = []
            for body in lines[i + 2:]:
                if not body.startswith("|"):
                    break
                rows.append(dict(zip(header, (c.strip() for c in body.strip("|").split("|")))))
            return rows
    raise AssertionError(f"no table in output:\n{text}")


def test_no_arguments_prints_help():
    r = run_cli()
    assert r.returncode == 0, r.stderr
    assert "info" in r.stdout and "bench" in r.stdout


def test_info():
    r = run_cli("info")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"gatedrnn {gatedrnn.__version__}")
    assert f"NumPy {np.__version__}" in out
    assert "CPU:" in out and "CPU features:" in out
    assert f"ISA selected: {gatedrnn.selected_isa()}" in out
    for isa in gatedrnn.available_isas():
        assert isa in out.split("ISAs available:")[1].splitlines()[0]
    assert f"threads: {gatedrnn.get_num_threads()}" in out
    assert "GATEDRNN_ISA:" in out


def test_info_reports_gatedrnn_isa_env():
    r = run_cli("info", env_extra={"GATEDRNN_ISA": "scalar"})
    assert r.returncode == 0, r.stderr
    assert "GATEDRNN_ISA: 'scalar' (set)" in r.stdout
    r = run_cli("info", env_drop=("GATEDRNN_ISA",))
    assert "GATEDRNN_ISA: not set" in r.stdout


def test_bench_quick_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    r = run_cli("bench", "--quick", "--cells", "S1,L1", "--time-budget", "0.05", "--competitors", "none",
                "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"gatedrnn {gatedrnn.__version__}" in r.stdout
    assert "machine:" in r.stdout and "ISA:" in r.stdout
    rows = parse_table(r.stdout)
    seen = {(row["cell"], row["kind"]) for row in rows}
    assert seen == {(c, k) for c in ("S1", "L1") for k in ("lstm", "gru")}
    for row in rows:
        assert row["check"] == "ok", row
        assert row["threads"] == "1"
        assert float(row["gatedrnn median ms"]) > 0 and float(row["numpy median ms"]) > 0
        assert float(row["speedup"]) > 0 and float(row["GFLOP/s"]) > 0
    assert "[1/4]" in r.stderr  # progress lines
    assert "- competitors: none" in r.stdout
    assert "torch median ms" not in r.stdout and "best competitor" not in r.stdout

    doc = json.loads(out.read_text())
    assert doc["ok"] is True
    assert doc["versions"]["gatedrnn"] == gatedrnn.__version__
    assert doc["gatedrnn"]["selected_isa"] == gatedrnn.selected_isa()
    assert doc["machine"]["cpu_model"]
    assert doc["settings"]["cells"] == ["S1", "L1"] and doc["settings"]["threads"] == [1]
    assert len(doc["results"]) == 4
    for res in doc["results"]:
        assert res["ok"] is True
        B, T, I, H = bench.CELLS[res["cell"]]
        assert (res["B"], res["T"], res["I"], res["H"]) == (B, T, I, H)
        assert res["flops"] == bench.flops(res["kind"], B, T, I, H)
        for impl in ("gatedrnn", "numpy"):
            t = res["timings"][impl]
            assert t["repeats"] >= 3 and len(t["times_ms"]) == t["repeats"]
            assert 0 < t["min_ms"] <= t["median_ms"]
            assert res["check"][impl]["ok"] is True
        assert res["speedup"] == pytest.approx(
            res["timings"]["numpy"]["median_ms"] / res["timings"]["gatedrnn"]["median_ms"])


def test_bench_precision_columns(tmp_path):
    """--precision bf16,int8: each precision timed beside fp32 in the same rows, checked
    against the reference with its own bound, and its time over fp32's in the table."""
    out = tmp_path / "bench.json"
    r = run_cli("bench", "--cells", "S1", "--kinds", "lstm", "--precision", "bf16,int8", "--time-budget", "0.05",
                "--competitors", "none", "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    rows = parse_table(r.stdout)
    assert len(rows) == 1 and rows[0]["check"] == "ok", rows
    for p in ("bf16", "int8"):
        assert float(rows[0][f"gatedrnn-{p} median ms"]) > 0
        assert float(rows[0][f"{p} / fp32"]) == pytest.approx(
            float(rows[0][f"gatedrnn-{p} median ms"]) / float(rows[0]["gatedrnn median ms"]), rel=0.02)
    doc = json.loads(out.read_text())
    res = doc["results"][0]
    assert doc["settings"]["precisions"] == ["fp32", "bf16", "int8"]
    for p in ("bf16", "int8"):
        check = res["check"][f"gatedrnn-{p}"]
        assert check["ok"] is True and check["atol"] == pytest.approx(bench.PRECISION_ATOL[p])
        # really that precision: far from the fp32 result's error
        assert check["max_abs_err"]["y"] > 10 * res["check"]["gatedrnn"]["max_abs_err"]["y"]
        assert res["timings"][f"gatedrnn-{p}"]["repeats"] >= 3
    r = run_cli("bench", "--precision", "fp16")
    assert r.returncode != 0 and "precision" in r.stderr


def test_bench_unsets_openblas_env_by_reexec(tmp_path):
    # OPENBLAS_L2_SIZE is harmless to set; the bench re-executes itself without it once.
    out = tmp_path / "bench.json"
    r = run_cli("bench", "--cells", "S1", "--kinds", "gru", "--time-budget", "0.02", "--competitors", "none",
                "--json", str(out),
                env_extra={"OPENBLAS_L2_SIZE": "1048576"},
                env_drop=("OPENBLAS_CORETYPE", bench.REEXEC_MARKER))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "re-executing" in r.stderr
    assert "unset OPENBLAS_L2_SIZE=1048576" in r.stdout
    doc = json.loads(out.read_text())
    assert any("OPENBLAS_L2_SIZE" in n for n in doc["notes"])
    assert [row["check"] for row in parse_table(r.stdout)] == ["ok"]


def test_bench_rejects_bad_options():
    r = run_cli("bench", "--cells", "L1,X9")
    assert r.returncode == 2 and "unknown cell 'X9'" in r.stderr
    r = run_cli("bench", "--threads", "0")
    assert r.returncode == 2 and "thread count" in r.stderr
    r = run_cli("bench", "--quick", "--full")
    assert r.returncode == 2
    r = run_cli("bench", "--competitors", "torch,tf")
    assert r.returncode == 2 and "unknown competitor 'tf'" in r.stderr


# ----------------------------------------------------------------------------------
# Competitors (PyTorch, ONNX Runtime, OpenVINO) and the chart.

from gatedrnn import _competitors  # noqa: E402  (imports no competitor library)

# The fields of each competitor's library in the JSON's "versions".
COMPETITOR_LIBS = {"torch": ("torch",), "ort": ("onnxruntime", "onnx"), "ov": ("openvino", "onnx")}
SMALL_ROW = ("--cells", "S1", "--kinds", "lstm", "--threads", "1", "--time-budget", "0.03")


def skip_unless_installed(name):
    if not _competitors.installed(name):
        pytest.skip(f"{name} needs {' and '.join(_competitors.REQUIRES[name])} installed")


@pytest.mark.parametrize("name", _competitors.COMPETITORS)
def test_bench_times_each_installed_competitor(tmp_path, name):
    skip_unless_installed(name)
    out = tmp_path / "bench.json"
    r = run_cli("bench", *SMALL_ROW, "--competitors", name, "--json", str(out), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"- competitor {name}: {_competitors.LABELS[name]}" in r.stdout
    [row] = parse_table(r.stdout)
    assert row["check"] == "ok", row
    assert float(row[f"{name} median ms"]) > 0 and float(row[f"{name} min ms"]) > 0
    assert row["best competitor"] == name and float(row["best / gatedrnn"]) > 0
    assert float(row["gatedrnn median ms"]) > 0 and float(row["numpy median ms"]) > 0
    assert float(row["fp32 floor ms"]) == pytest.approx(bench.floor_ms("lstm", 1, 1, 256, 256, 1), rel=1e-2)
    assert f"{name} " in r.stderr.split("[1/1] lstm S1")[1].splitlines()[0]  # in the progress line

    doc = json.loads(out.read_text())
    assert doc["ok"] is True
    assert doc["settings"]["impls"] == ["gatedrnn", "numpy", name]
    assert doc["settings"]["competitors"] == [name]
    for lib in COMPETITOR_LIBS[name]:
        assert doc["versions"][lib] and doc["competitors"][name]["versions"][lib] == doc["versions"][lib]
    [res] = doc["results"]
    assert res["check"][name]["ok"] is True and res["excluded"] == {}
    t = res["timings"][name]
    assert t["repeats"] >= 3 and len(t["times_ms"]) == t["repeats"] and 0 < t["min_ms"] <= t["median_ms"]
    assert res["best_competitor"] == name
    assert res["best_ratio"] == pytest.approx(t["median_ms"] / res["timings"]["gatedrnn"]["median_ms"])
    assert res["impl_settings"][name]  # the thread settings it ran with
    if name == "ov":
        assert res["impl_settings"]["ov"]["INFERENCE_NUM_THREADS"] == "1"
        assert res["impl_settings"]["ov"]["INFERENCE_PRECISION_HINT"] in ("f32", "float32")


def test_bench_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    comp = "ort" if _competitors.installed("ort") else "none"
    png = tmp_path / "bench.png"
    r = run_cli("bench", *SMALL_ROW, "--competitors", comp, "--plot", str(png), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert f"wrote {png}" in r.stderr


def _bench_in_process(args, capsys):
    from gatedrnn import _cli

    rc = _cli.main(["bench", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_bench_plot_without_matplotlib_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    rc, out, err = _bench_in_process([*SMALL_ROW, "--competitors", "none", "--plot", str(tmp_path / "x.png")],
                                     capsys)
    assert rc == 2 and "--plot needs matplotlib" in err and "pip install" in err
    assert not (tmp_path / "x.png").exists() and out == ""


class _FakeCompetitor(_competitors.Competitor):
    """A competitor made of the NumPy baseline: right, wrong (y off by 1e-2), or broken."""

    settings = "fake"

    def __init__(self, name, mode):
        self.name, self.mode = name, mode

    def versions(self):
        return {"fake": "0"}

    def build(self, kind, state_dict, x, threads):
        if self.mode == "setup-error":
            raise RuntimeError("cannot build")
        base = bench.numpy_baseline(kind, state_dict)

        def call():
            y, state = base(x)
            if self.mode == "wrong":
                y = y + np.float32(1e-2)
            if self.mode == "call-error":
                raise RuntimeError("cannot run")
            return y, state

        return call, {"threads": threads}


def test_bench_excludes_competitors_that_fail(tmp_path, monkeypatch, capsys):
    fakes = {"torch": _FakeCompetitor("torch", "wrong"), "ort": _FakeCompetitor("ort", "setup-error"),
             "ov": _FakeCompetitor("ov", "right")}
    monkeypatch.setattr(_competitors, "load", lambda names, explicit=False: (dict(fakes), []))
    out = tmp_path / "bench.json"
    rc, stdout, stderr = _bench_in_process([*SMALL_ROW, "--competitors", "all", "--json", str(out)], capsys)
    assert rc == 0, stdout + stderr  # a competitor's failure is not gatedrnn's
    [row] = parse_table(stdout)
    assert row["check"] == "ok; excluded torch,ort", row
    assert row["torch median ms"] == "-" and row["ort median ms"] == "-"
    assert float(row["ov median ms"]) > 0 and row["best competitor"] == "ov"
    assert "excluded torch:" in stderr and "excluded ort: setup: RuntimeError: cannot build" in stderr
    assert "excluded 2 competitor timing(s)" in stdout
    [res] = json.loads(out.read_text())["results"]
    assert res["ok"] is True and set(res["excluded"]) == {"torch", "ort"}
    assert not res["check"]["torch"]["ok"] and "y:" in res["check"]["torch"]["error"]
    assert res["timings"]["torch"]["repeats"] == 0 and res["timings"]["ort"]["repeats"] == 0
    assert res["check"]["ov"]["ok"] and res["timings"]["ov"]["repeats"] >= 3


def test_bench_excludes_a_real_competitor_returning_wrong_numbers(monkeypatch, capsys):
    skip_unless_installed("ort")
    build = _competitors.OrtCompetitor.build

    def wrong_build(self, kind, state_dict, x, threads):
        call, info = build(self, kind, state_dict, x, threads)

        def wrong():
            y, (h, c) = call()
            return y, (h, c * np.float32(1.01))

        return wrong, info

    monkeypatch.setattr(_competitors.OrtCompetitor, "build", wrong_build)
    rc, stdout, stderr = _bench_in_process([*SMALL_ROW, "--competitors", "ort"], capsys)
    assert rc == 0, stdout + stderr
    [row] = parse_table(stdout)
    assert row["check"] == "ok; excluded ort" and row["ort median ms"] == "-" and row["best competitor"] == "-"
    assert "excluded ort: c_n: max |got - ref|" in stderr


def test_default_competitors_are_the_installed_ones():
    from gatedrnn import _cli

    args = _cli.build_parser().parse_args(["bench"])
    assert bench.resolve_settings(args)["competitors_requested"] is None
    args = _cli.build_parser().parse_args(["bench", "--competitors", "none"])
    assert bench.resolve_settings(args)["competitors_requested"] == []
    installed = [n for n in _competitors.COMPETITORS if _competitors.installed(n)]
    assert [n for n in _competitors.COMPETITORS if n in installed] == installed
    for n in _competitors.COMPETITORS:
        assert _competitors.installed(n) == all(
            importlib.util.find_spec(m) is not None for m in _competitors.REQUIRES[n])


def test_floor_matches_the_benchmarks_table():
    # shared/BENCHMARKS.md's fp32 floor (ms) for a few cells.
    for kind, cell, n, want in [("lstm", "L1", 1, 1.99), ("lstm", "L3", 2, 16.9), ("gru", "T2", 1, 220),
                                ("gru", "S1", 2, 0.00678), ("lstm", "S1", 1, 0.0221), ("gru", "L2", 2, 3.17)]:
        assert bench.floor_ms(kind, *bench.CELLS[cell], n) == pytest.approx(want, rel=5e-3)
    assert bench.floor_ms("lstm", *bench.CELLS["L1"], 4) is None


# ----------------------------------------------------------------------------------
# In-process: the engine's pieces.

def _random_state_dict(rng, kind, I, H):
    G = bench.GATES[kind]
    k = 1 / np.sqrt(H)
    return {"weight_ih_l0": rng.uniform(-k, k, (G * H, I)).astype(np.float32),
            "weight_hh_l0": rng.uniform(-k, k, (G * H, H)).astype(np.float32),
            "bias_ih_l0": rng.uniform(-k, k, G * H).astype(np.float32),
            "bias_hh_l0": rng.uniform(-k, k, G * H).astype(np.float32)}


@pytest.mark.parametrize("kind", bench.KINDS)
@pytest.mark.parametrize("B,T,I,H", [(1, 1, 3, 5), (3, 7, 5, 8), (4, 20, 16, 17)])
def test_numpy_baseline_matches_reference(rng, kind, B, T, I, H):
    sd = _random_state_dict(rng, kind, I, H)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    got = bench.unpack_outputs(kind, bench.numpy_baseline(kind, sd)(x))
    ref = bench.reference_outputs(kind, x, sd)
    res = bench.check_outputs(got, ref, T, atol=1e-5)
    assert res["ok"], res
    assert all(a.dtype == np.float32 for a in got if a is not None)
    # The same through the reference API directly (the engine's unpacking is not the test).
    if kind == "lstm":
        y, (h, c) = reference.lstm(x, sd)
        np.testing.assert_allclose(got[2], c, atol=1e-5)
    else:
        y, h = reference.gru(x, sd, linear_before_reset=True)
    np.testing.assert_allclose(got[0], y, atol=1e-5)
    np.testing.assert_allclose(got[1], h, atol=1e-5)


def test_check_outputs_catches_errors_and_uses_row_subsets(rng):
    sd = _random_state_dict(rng, "lstm", 6, 4)
    x = rng.standard_normal((5, 12, 6)).astype(np.float32)
    got = bench.unpack_outputs("lstm", bench.numpy_baseline("lstm", sd)(x))
    rows = bench.check_rows(12)
    assert rows is not None and len(rows) == bench.CHECK_ROWS and rows[0] == 0 and rows[-1] == 11
    assert bench.check_rows(bench.CHECK_ROWS) is None
    ref = bench.reference_outputs("lstm", x[:, rows], sd)
    assert bench.check_outputs(got, ref, 5, rows=rows)["ok"]
    bad = (got[0].copy(), got[1], got[2])
    bad[0][2, rows[-1], 1] += 1e-3
    res = bench.check_outputs(bad, ref, 5, rows=rows)
    assert not res["ok"] and "y:" in res["error"]
    res = bench.check_outputs((got[0].astype(np.float64), got[1], got[2]), ref, 5, rows=rows)
    assert not res["ok"] and "float32" in res["error"]
    res = bench.check_outputs((got[0][:, :3], got[1], got[2]), ref, 5, rows=rows)
    assert not res["ok"] and "shape" in res["error"]


def test_bench_row_cross_check_and_errors(rng):
    sd = _random_state_dict(rng, "gru", 4, 3)
    x = rng.standard_normal((3, 10, 4)).astype(np.float32)
    base = bench.numpy_baseline("gru", sd)
    rows = bench.check_rows(10)
    ref = bench.reference_outputs("gru", x[:, rows], sd)

    def wrong_outside_subset():
        y, h = base(x)
        y = y.copy()
        y[:, 4] += 1.0  # row 4 is not among the reference rows
        return y, h

    def broken():
        raise RuntimeError("boom")

    impls = {"good": lambda: base(x), "wrong": wrong_outside_subset, "broken": broken, "numpy": lambda: base(x)}
    r = bench.bench_row(impls, "gru", 3, ref, 0.01, rows=rows, cross_check="numpy", min_repeats=2)
    assert r["check"]["good"]["ok"] and r["check"]["numpy"]["ok"]
    assert not r["check"]["wrong"]["ok"] and "all rows vs numpy" in r["check"]["wrong"]["error"]
    assert not r["check"]["broken"]["ok"] and "boom" in r["check"]["broken"]["error"]
    assert not r["ok"]
    assert r["timings"]["good"]["repeats"] >= 2 and r["timings"]["broken"]["repeats"] == 0
    assert r["timings"]["wrong"]["repeats"] >= 2  # timed (and reported) unless excluded:
    r = bench.bench_row({"good": impls["good"], "wrong": wrong_outside_subset, "numpy": impls["numpy"]}, "gru", 3,
                        ref, 0.01, rows=rows, cross_check="numpy", min_repeats=2, exclude_failed=["wrong"])
    assert not r["check"]["wrong"]["ok"] and r["timings"]["wrong"]["repeats"] == 0
    assert r["timings"]["good"]["repeats"] >= 2


def test_time_interleaved_repeats_and_caps():
    import itertools
    import time as _time

    calls = []

    def call(name):
        calls.append(name)
        _time.sleep(bench.BURST_S / 4)

    t = bench.time_interleaved({"a": lambda: call("a"), "b": lambda: call("b")}, 0.0,
                               estimate=1.0, min_repeats=3)
    # Expensive estimate: no extra warm-up; three rounds, each a burst of a then a burst of b.
    runs = [(name, len(list(group))) for name, group in itertools.groupby(calls)]
    assert [name for name, _ in runs] == ["a", "b"] * 3
    assert all(2 <= n <= 6 for _, n in runs)  # about BURST_S of calls per burst
    assert len(t["a"]) == sum(n for name, n in runs if name == "a")
    assert len(t["b"]) == sum(n for name, n in runs if name == "b")
    t = bench.time_interleaved({"slow": lambda: _time.sleep(0.05)}, 0.01, estimate=1.0,
                               min_repeats=3, max_time=0.06)
    assert len(t["slow"]) == 1  # a second round would pass max_time
