"""Move a PyTorch LSTM and GRU to gatedrnn, check the numbers, compare the speed.

``gatedrnn.from_torch(module)`` takes a ``torch.nn.LSTM``, ``GRU``, ``LSTMCell`` or
``GRUCell`` and returns a gatedrnn layer with the same configuration (layers, directions,
``batch_first``, ``proj_size``) and the same weights (PyTorch's names and gate orders are
gatedrnn's, so they are copied as they are and packed once). This script:

1. builds a 2-layer bidirectional, batch-first ``torch.nn.LSTM`` in eval mode, moves it
   with ``from_torch``, runs both on the same input and checks that the outputs and the
   final states (h_n, c_n) agree to float32 rounding;
2. does the same for a 2-layer time-major ``torch.nn.GRU`` over a padded batch of
   sequences of different lengths: PyTorch's ``pack_padded_sequence`` on one side,
   gatedrnn's ``lengths=`` on the other (outputs past a sequence's end are zero, final
   states are taken at its last valid step);
3. times both libraries on the same input with the same number of threads (the median of
   ``--repeats`` calls each, after a warm-up call) and prints the ratio. The
   PyTorch GRU's time includes packing and unpacking the padded batch, which gatedrnn's
   ``lengths=`` does not need. Timings on a shared machine vary from run to run.

Run it::

    python examples/pytorch_to_gatedrnn.py
    python examples/pytorch_to_gatedrnn.py --hidden-size 512 --threads 1 --repeats 50

Needs ``torch`` (``pip install torch==2.13.0``; the CPU build is enough) besides gatedrnn.
It exits with status 1 if gatedrnn's results differ from PyTorch's beyond the tolerance.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, List, Optional, Sequence

import numpy as np
import numpy.typing as npt
import torch

import gatedrnn

Array = npt.NDArray[np.float32]


def tolerance(dot_length: int) -> float:
    """Absolute tolerance for two float32 implementations of the same layer.

    Both compute every gate pre-activation as a float32 dot product of ``dot_length``
    terms (input plus hidden width), summed in different orders (PyTorch's BLAS, gatedrnn's
    fused kernels), and their sigmoid/tanh differ by up to about 1e-6. Rounding errors of
    random sign grow like the square root of the length: 1e-5 covers 64 terms, and the
    bound grows as sqrt(dot_length / 64) beyond (the rule gatedrnn's test suite uses
    against its float64 reference). The recurrence carries the differences on, but the
    gates' saturation keeps them from growing (the README: the error does not grow along
    a sequence)."""
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


def max_diff(a: Array, b: Array) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def compare(name: str, got: Sequence[Array], want: Sequence[Array], atol: float) -> bool:
    """Print the max |difference| of each pair of outputs; True if all are within atol."""
    labels = ("y", "h_n", "c_n")
    diffs = [max_diff(g, w) for g, w in zip(got, want)]
    for g, w in zip(got, want):
        assert g.shape == w.shape, f"{name}: shape {g.shape}, PyTorch's {w.shape}"
    parts = ", ".join(f"{label} {d:.1e}" for label, d in zip(labels, diffs))
    ok = all(d <= atol for d in diffs)
    print(f"  max |gatedrnn - torch|: {parts} (tolerance {atol:.1e}): {'ok' if ok else 'MISMATCH'}")
    return ok


def lstm_demo(args: argparse.Namespace, rng: np.random.Generator) -> bool:
    torch.manual_seed(0)
    module = torch.nn.LSTM(args.input_size, args.hidden_size, num_layers=2, batch_first=True,
                           bidirectional=True).eval()
    layer = gatedrnn.from_torch(module, num_threads=args.threads)
    assert isinstance(layer, gatedrnn.LSTM)
    print(f"torch.nn.{module} -> gatedrnn.{layer!r}")

    x = rng.standard_normal((args.batch, args.steps, args.input_size)).astype(np.float32)  # (B, T, I)
    x_t = torch.from_numpy(x)
    with torch.inference_mode():
        y_t, (h_t, c_t) = module(x_t)
    y, (h, c) = layer(x)  # the same call, NumPy in and out
    print(f"  x {x.shape} -> y {y.shape}, h_n {h.shape}, c_n {c.shape}")
    # The longest dot product: layer 2 reads both directions (2H) plus its own h (H).
    atol = tolerance(max(args.input_size, 2 * args.hidden_size) + args.hidden_size)
    ok = compare("LSTM", [y, h, c], [y_t.numpy(), h_t.numpy(), c_t.numpy()], atol)

    def run_torch() -> None:
        with torch.inference_mode():
            module(x_t)

    time_comparison(lambda: layer(x), run_torch, args)
    return ok


def gru_demo(args: argparse.Namespace, rng: np.random.Generator) -> bool:
    torch.manual_seed(1)
    module = torch.nn.GRU(args.input_size, args.hidden_size, num_layers=2).eval()  # time-major
    layer = gatedrnn.from_torch(module, num_threads=args.threads)
    assert isinstance(layer, gatedrnn.GRU)
    print(f"torch.nn.{module} -> gatedrnn.{layer!r}")

    x = rng.standard_normal((args.steps, args.batch, args.input_size)).astype(np.float32)  # (T, B, I)
    lengths = rng.integers(1, args.steps + 1, size=args.batch)  # padded batch: each row's valid length
    lengths[0] = args.steps
    x_t = torch.from_numpy(x)
    lengths_t = torch.from_numpy(lengths)

    def run_torch() -> "tuple[torch.Tensor, torch.Tensor]":
        packed = torch.nn.utils.rnn.pack_padded_sequence(x_t, lengths_t, enforce_sorted=False)
        with torch.inference_mode():
            out, h_n = module(packed)
        y_padded, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=args.steps)
        return y_padded, h_n

    y_t, h_t = run_torch()
    y, h = layer(x, lengths=lengths)
    print(f"  x {x.shape}, lengths {lengths.min()}..{lengths.max()} -> y {y.shape}, h_n {h.shape}")
    atol = tolerance(max(args.input_size, args.hidden_size) + args.hidden_size)
    ok = compare("GRU", [y, h], [y_t.numpy(), h_t.numpy()], atol)
    time_comparison(lambda: layer(x, lengths=lengths), run_torch, args)
    return ok


def time_comparison(run_gatedrnn: Callable[[], object], run_torch: Callable[[], object],
                    args: argparse.Namespace) -> None:
    t_torch = median_ms(run_torch, args.repeats)
    t_ours = median_ms(run_gatedrnn, args.repeats)
    print(f"  median of {args.repeats} calls, {args.threads} thread(s): torch {t_torch:.2f} ms, "
          f"gatedrnn {t_ours:.2f} ms ({t_torch / t_ours:.1f}x)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--input-size", type=int, default=40, help="input features (default 40)")
    parser.add_argument("--hidden-size", type=int, default=128, help="hidden units (default 128)")
    parser.add_argument("--steps", type=int, default=100, help="time steps (default 100)")
    parser.add_argument("--batch", type=int, default=8, help="sequences per call (default 8)")
    parser.add_argument("--threads", type=int, default=gatedrnn.get_num_threads(),
                        help="threads for both libraries (default: the CPUs this process may use)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls of each (default 20)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    ok = lstm_demo(args, rng)
    ok = gru_demo(args, rng) and ok
    print("check: gatedrnn matches PyTorch" if ok else "check: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
