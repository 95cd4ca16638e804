"""The scripts in examples/ run as a user would run them, with small arguments.

Each example is started as a subprocess (``sys.executable``, this process's environment
unchanged, so it imports gatedrnn the way the tests do: installed, or through
``PYTHONPATH``), must exit with status 0 (every example checks its own results and exits
non-zero when a check fails) and print its closing check line. An example whose optional
dependency is missing is skipped. ``test_every_example_is_listed`` fails when a script is
added to examples/ without a case here, so no example goes untested.
"""

import ast
import importlib.util
import os
import pathlib
import subprocess
import sys
from typing import NamedTuple, Tuple

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


class Case(NamedTuple):
    script: str
    args: Tuple[str, ...]
    needs: Tuple[str, ...]  # top-level modules that must be importable
    expect: Tuple[str, ...]  # lines (or parts of lines) the output must contain


CASES = {
    "dask": Case(
        "dask_batch_inference.py",
        ("--sequences", "48", "--steps", "6", "--chunk", "16", "--input-size", "5", "--hidden-size", "8",
         "--check"),
        ("dask", "distributed"),
        ("outputs: (48, 6, 16) float32", "check: identical to the single-process run"),
    ),
    "torch": Case(
        "pytorch_to_gatedrnn.py",
        ("--input-size", "12", "--hidden-size", "24", "--steps", "15", "--batch", "3", "--repeats", "2"),
        ("torch",),
        ("torch.nn.LSTM(12, 24, num_layers=2, batch_first=True, bidirectional=True) -> gatedrnn.LSTM(",
         "torch.nn.GRU(12, 24, num_layers=2) -> gatedrnn.GRU(", "check: gatedrnn matches PyTorch"),
    ),
    "onnx": Case(
        "onnx_import.py",
        ("--input-size", "12", "--hidden-size", "24", "--steps", "15", "--batch", "3", "--repeats", "2"),
        ("onnx", "onnxruntime"),  # torch is optional: without it the exported-model part is skipped
        ("GRU node built with onnx.helper", "check: gatedrnn matches onnxruntime"),
    ),
    "streaming-lstm": Case(
        "streaming_audio.py",
        ("--seconds", "1", "--hidden-size", "32"),
        (),
        ("features: 98 frames x 40 log-mel", "per-step latency: p50", "bitwise equal to the whole-sequence call"),
    ),
    "streaming-gru": Case(
        "streaming_audio.py",
        ("--seconds", "0.5", "--hidden-size", "17", "--kind", "gru", "--chunk", "7", "--threads", "2"),
        (),
        ("model: GRU(40, 17, num_layers=2)", "bitwise equal to the whole-sequence call"),
    ),
    "precision": Case(
        "precision_tradeoff.py",
        ("--hidden-size", "64", "--steps", "128", "--repeats", "2"),
        (),
        ("LSTM(64, 64), T=128", "GRU(64, 64), T=128", "check: every error within twice the README's documented range"),
    ),
}


def _run(case: Case) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, str(EXAMPLES / case.script), *case.args], capture_output=True,
                          text=True, timeout=180, env=dict(os.environ))


@pytest.mark.parametrize("name", list(CASES))
def test_example_runs(name: str) -> None:
    case = CASES[name]
    for module in case.needs:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{case.script} needs {module}, which is not installed")
    proc = _run(case)
    output = f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, f"{case.script} exited with status {proc.returncode}\n{output}"
    for text in case.expect:
        assert text in proc.stdout, f"{case.script}: {text!r} not in its output\n{output}"
    assert "Traceback" not in proc.stderr, output
    if case.script == "onnx_import.py" and importlib.util.find_spec("torch") is not None:
        for text in ("exported to lstm.onnx", "from_onnx: LSTM(12, 24, bidirectional=True)"):
            assert text in proc.stdout, output


def test_every_example_is_listed() -> None:
    """A script added to examples/ needs a case in CASES (and a listed one must exist)."""
    present = {p.name for p in EXAMPLES.glob("*.py")}
    listed = {case.script for case in CASES.values()}
    assert not present - listed, f"examples without a test case in {__file__}: {sorted(present - listed)}"
    assert not listed - present, f"test cases for examples that do not exist: {sorted(listed - present)}"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_is_documented(path: pathlib.Path) -> None:
    """Each example opens with a docstring that says how to run it and what it needs, has a
    main guard, and its options come from argparse (so --help describes them)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc, f"{path.name}: no module docstring"
    assert f"python examples/{path.name}" in doc, f"{path.name}: the docstring does not show how to run it"
    assert "Needs" in doc, f"{path.name}: the docstring does not say what it needs"
    source = path.read_text(encoding="utf-8")
    assert 'if __name__ == "__main__":' in source and "argparse" in source, path.name
