"""Run the LSTM and GRU nodes of ONNX models with gatedrnn, checked against ONNX Runtime.

``gatedrnn.from_onnx(model, node=None)`` reads one ``LSTM`` or ``GRU`` node of an ONNX
model (a path, bytes or an ``onnx.ModelProto``) whose weights are initializers or
constants, converts ONNX's gate orders and layouts once, and returns a gatedrnn layer that
computes that node, every attribute honoured. This script shows two models:

1. **exported by PyTorch**: a 2-layer bidirectional ``torch.nn.LSTM`` written to a
   ``.onnx`` file with ``torch.onnx.export(..., dynamo=False)`` (the TorchScript exporter,
   which needs no ``onnxscript``). It holds one LSTM node per layer, with reshapes in
   between; each node becomes a layer (``from_onnx(path, node=k)``) and the layers are
   chained, since gatedrnn's outputs are already in PyTorch's layout. Skipped, with a
   note, when torch is not installed;
2. **built with onnx.helper**: one ``GRU`` node with ONNX's defaults
   (``linear_before_reset=0``, the original GRU, which PyTorch does not have) and a
   ``sequence_lens`` graph input; from ``from_onnx(model_proto)`` the lengths become the
   call's ``lengths=``, and ONNX's output ``Y`` (T, D, B, H) is gatedrnn's y reshaped.

For each, the whole model runs in ``onnxruntime.InferenceSession`` and the gatedrnn layers
run on the same input; the script prints the largest difference of every output and the
median time per call of both (the same number of threads), and exits with status 1 if a
difference exceeds the float32 tolerance.

Run it::

    python examples/onnx_import.py
    python examples/onnx_import.py --hidden-size 256 --steps 200 --threads 1

Needs ``pip install onnx onnxruntime``; part 1 also ``torch`` (``pip install torch==2.13.0``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import gatedrnn

Array = npt.NDArray[np.float32]
Layer = Union[gatedrnn.LSTM, gatedrnn.GRU]


def tolerance(dot_length: int) -> float:
    """Absolute tolerance between two float32 implementations: each gate is a float32 dot
    product of ``dot_length`` terms summed in a different order (ONNX Runtime's MLAS,
    gatedrnn's fused kernels), plus sigmoid/tanh approximations good to about 1e-6. 1e-5
    covers 64 terms; random-sign rounding errors grow like sqrt(dot_length) beyond (the
    rule of gatedrnn's test suite)."""
    return 1e-5 * max(1.0, float(np.sqrt(dot_length / 64.0)))


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` back-to-back calls of ``fn``, in milliseconds.

    The machine idles 0.2 s first: thread pools the previous library used keep spinning
    for a while after a call (OpenMP's, ONNX Runtime's, OpenBLAS's), and would take the
    cores from this one's threads. Then one warm-up call (caches, thread start-up)."""
    time.sleep(0.2)
    fn()
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def ort_session(model: Union[str, bytes], threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def report(names: Sequence[str], got: Sequence[Array], want: Sequence[Array], atol: float) -> bool:
    """Print the largest |gatedrnn - onnxruntime| of each output; True if all within atol."""
    ok = True
    parts = []
    for name, g, w in zip(names, got, want):
        if g.shape != w.shape:
            print(f"  {name}: shape {g.shape}, onnxruntime's {w.shape}")
            return False
        diff = float(np.abs(g.astype(np.float64) - w).max())
        ok = ok and diff <= atol
        parts.append(f"{name} {diff:.1e}")
    print(f"  max |gatedrnn - onnxruntime|: {', '.join(parts)} (tolerance {atol:.1e}): {'ok' if ok else 'MISMATCH'}")
    return ok


def time_both(run_ort: Callable[[], object], run_ours: Callable[[], object], args: argparse.Namespace) -> None:
    t_ort = median_ms(run_ort, args.repeats)
    t_ours = median_ms(run_ours, args.repeats)
    print(f"  median of {args.repeats} calls, {args.threads} thread(s): onnxruntime {t_ort:.2f} ms, "
          f"gatedrnn {t_ours:.2f} ms ({t_ort / t_ours:.1f}x)")


# -- 1. a model exported by torch.onnx.export ------------------------------------------------
def torch_exported_lstm(args: argparse.Namespace, rng: np.random.Generator, workdir: str) -> bool:
    import torch

    torch.manual_seed(0)
    module = torch.nn.LSTM(args.input_size, args.hidden_size, num_layers=2, bidirectional=True).eval()
    x = rng.standard_normal((args.steps, args.batch, args.input_size)).astype(np.float32)  # (T, B, I)
    path = os.path.join(workdir, "lstm.onnx")
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation, and its tracer warns about
        # torch.nn.LSTM's own shape checks; neither concerns the exported graph.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(x),), path, dynamo=False, opset_version=14,
                          input_names=["x"], output_names=["y", "h_n", "c_n"],
                          dynamic_axes={"x": {0: "T", 1: "B"}})
    model = onnx.load(path)
    lstm_nodes = [n.name for n in model.graph.node if n.op_type == "LSTM"]
    print(f"torch.nn.{module} exported to {os.path.basename(path)}: {len(model.graph.node)} nodes, "
          f"LSTM nodes {lstm_nodes}")

    layers: List[gatedrnn.LSTM] = []
    for k in range(len(lstm_nodes)):
        layer = gatedrnn.from_onnx(path, node=k, num_threads=args.threads)  # k-th LSTM node in graph order
        assert isinstance(layer, gatedrnn.LSTM)
        layers.append(layer)
    print(f"  from_onnx: {' -> '.join(repr(layer) for layer in layers)}")

    def run_ours() -> Tuple[Array, Array, Array]:
        """The layers chained; the final states of all layers stacked, as torch's h_n, c_n."""
        h: Array = x
        hs: List[Array] = []
        cs: List[Array] = []
        for layer in layers:
            h, (h_n, c_n) = layer(h)
            hs.append(h_n)
            cs.append(c_n)
        return h, np.concatenate(hs), np.concatenate(cs)

    session = ort_session(path, args.threads)
    want: List[Array] = session.run(None, {"x": x})
    got = run_ours()
    atol = tolerance(max(args.input_size, 2 * args.hidden_size) + args.hidden_size)
    ok = report(["y", "h_n", "c_n"], got, want, atol)
    time_both(lambda: session.run(None, {"x": x}), run_ours, args)
    return ok


# -- 2. a GRU node built with onnx.helper ---------------------------------------------------
def helper_gru_model(input_size: int, hidden_size: int, rng: np.random.Generator) -> onnx.ModelProto:
    """One GRU node, ONNX's defaults (direction forward, linear_before_reset=0, layout 0):
    inputs X (T, B, I) and sequence_lens (B,), weights as initializers in ONNX's gate
    order z, r, h: W (1, 3H, I), R (1, 3H, H), B (1, 6H) = [Wb, Rb]."""
    H, k = hidden_size, 1.0 / np.sqrt(hidden_size)
    weights: Dict[str, Array] = {
        "W": rng.uniform(-k, k, (1, 3 * H, input_size)).astype(np.float32),
        "R": rng.uniform(-k, k, (1, 3 * H, H)).astype(np.float32),
        "B": rng.uniform(-k, k, (1, 6 * H)).astype(np.float32),
    }
    node = helper.make_node("GRU", ["X", "W", "R", "B", "sequence_lens"], ["Y", "Y_h"], name="gru",
                            hidden_size=H)
    graph = helper.make_graph(
        [node], "gru_graph",
        inputs=[helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", input_size]),
                helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"])],
        outputs=[helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, "B", H]),
                 helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "B", H])],
        initializer=[numpy_helper.from_array(value, name) for name, value in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8  # what onnxruntime 1.16 and later read
    onnx.checker.check_model(model)
    return model


def helper_built_gru(args: argparse.Namespace, rng: np.random.Generator) -> bool:
    model = helper_gru_model(args.input_size, args.hidden_size, rng)
    layer = gatedrnn.from_onnx(model, num_threads=args.threads)
    assert isinstance(layer, gatedrnn.GRU)
    print(f"GRU node built with onnx.helper (linear_before_reset=0, sequence_lens) -> {layer!r}")

    T, B, H = args.steps, args.batch, args.hidden_size
    x = rng.standard_normal((T, B, args.input_size)).astype(np.float32)
    lengths = rng.integers(1, T + 1, size=B).astype(np.int32)  # ONNX's sequence_lens is int32
    lengths[0] = T

    def run_ours() -> Tuple[Array, Array]:
        y, h_n = layer(x, lengths=lengths)
        return y, h_n

    session = ort_session(model.SerializeToString(), args.threads)
    feeds = {"X": x, "sequence_lens": lengths}
    Y, Y_h = session.run(None, feeds)
    y, h_n = run_ours()
    # ONNX's Y is (T, num_directions, B, H); gatedrnn's y is PyTorch's (T, B, num_directions * H).
    Y_as_y = Y.transpose(0, 2, 1, 3).reshape(T, B, H)
    ok = report(["y", "h_n"], [y, h_n], [Y_as_y, Y_h], tolerance(max(args.input_size, H) + H))
    time_both(lambda: session.run(None, feeds), run_ours, args)
    return ok


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--input-size", type=int, default=40, help="input features (default 40)")
    parser.add_argument("--hidden-size", type=int, default=128, help="hidden units (default 128)")
    parser.add_argument("--steps", type=int, default=100, help="time steps (default 100)")
    parser.add_argument("--batch", type=int, default=8, help="sequences per call (default 8)")
    parser.add_argument("--threads", type=int, default=gatedrnn.get_num_threads(),
                        help="threads for both (default: the CPUs this process may use)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls of each (default 20)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    ok = True
    if importlib.util.find_spec("torch") is None:
        print("torch is not installed: skipping the model exported by torch.onnx.export")
    else:
        with tempfile.TemporaryDirectory() as workdir:
            ok = torch_exported_lstm(args, rng, workdir)
    ok = helper_built_gru(args, rng) and ok
    print("check: gatedrnn matches onnxruntime" if ok else "check: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
