"""fp32, bf16 or int8: what each precision costs in accuracy and saves in time.

``precision="bf16"`` rounds a layer's weight matrices to bfloat16 once, when the layer is
built, and ``precision="int8"`` quantises them per output row (scale max|row| / 127);
each matrix product's other operand (x_t, h_{t-1}) is rounded or quantised as it is made.
Inputs, outputs, states and gate math stay float32. At batch 1 a step streams all the
recurrent weights from memory, so half or a quarter of the bytes can mean less time. This
script builds an LSTM and a GRU with the same weights in each precision and prints, for
each, a table of:

- the bytes of its weight matrices in that precision,
- the max and mean absolute error of y against ``gatedrnn.reference`` in float64 (fp32
  arithmetic on the unrounded weights: the error a user sees, as in the README's
  "Precision" table),
- the median time per call at batch 1 and the speed-up over fp32 (times vary with the
  CPU: AVX512_BF16 / AVX512_VNNI CPUs gain most, see the README).

It checks the errors against the README's accuracy table (PyTorch's initialisation, which
these layers' ``seed=`` draws, and standard normal inputs, as ``bench/accuracy.py``
measures): each error must be at most twice the top of its documented range (the room the
test suite allows); it exits with status 1 otherwise.

Run it::

    python examples/precision_tradeoff.py
    python examples/precision_tradeoff.py --hidden-size 1024 --steps 200 --repeats 20

Needs only NumPy and gatedrnn.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

import gatedrnn
from gatedrnn import reference

Array = npt.NDArray[np.float32]
Model = Union[gatedrnn.LSTM, gatedrnn.GRU]

PRECISIONS = ("fp32", "bf16", "int8")
BYTES_PER_WEIGHT = {"fp32": 4, "bf16": 2, "int8": 1}

# The README's "Precision" table, PyTorch init rows: the top of each documented range of
# the (max, mean) absolute error of y against the float64 reference, over T = 128 and
# 1000, B = 1-32, H = 64-512. The check allows twice these, like the test suite.
DOCUMENTED: Dict[Tuple[str, str], Tuple[float, float]] = {
    ("lstm", "fp32"): (6.9e-7, 5.9e-8), ("lstm", "bf16"): (2.8e-3, 2.7e-4), ("lstm", "int8"): (1.1e-2, 9.7e-4),
    ("gru", "fp32"): (8.1e-7, 8.7e-8), ("gru", "bf16"): (4.7e-3, 5.8e-4), ("gru", "int8"): (2.1e-2, 2.0e-3),
}
ROOM = 2.0


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` in milliseconds, after a warm-up call."""
    fn()
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def build(kind: str, size: int, precision: str, threads: int) -> Model:
    """A one-layer model with input_size = hidden_size = size; ``seed=0`` draws the same
    (PyTorch-initialised) weights in every precision."""
    if kind == "lstm":
        return gatedrnn.LSTM(size, size, seed=0, precision=precision, num_threads=threads)
    return gatedrnn.GRU(size, size, seed=0, precision=precision, num_threads=threads)


def reference_output(kind: str, x: Array, state_dict: Dict[str, Array]) -> npt.NDArray[np.float64]:
    """y in float64 from the float32 weights, unrounded (``precision="fp32"``)."""
    y: npt.NDArray[np.float64]
    if kind == "lstm":
        y, _ = reference.lstm(x, state_dict)
    else:
        y, _ = reference.gru(x, state_dict)
    return y


def matrix_bytes(model: Model) -> int:
    """Bytes of the weight matrices in the model's precision (the biases stay float32)."""
    elements = sum(v.size for k, v in model.state_dict().items() if k.startswith("weight_"))
    return elements * BYTES_PER_WEIGHT[model.precision]


def table(kind: str, args: argparse.Namespace, rng: np.random.Generator) -> bool:
    """Print one layer kind's table; True if every error is within its bound."""
    x = rng.standard_normal((args.steps, 1, args.hidden_size)).astype(np.float32)  # (T, B=1, I)
    models = {p: build(kind, args.hidden_size, p, args.threads) for p in PRECISIONS}
    y_ref = reference_output(kind, x, models["fp32"].state_dict())
    print(f"\n{models['fp32']!r}, T={args.steps}, batch 1, {args.threads} thread(s), ISA {gatedrnn.selected_isa()}")
    print(f"  {'precision':<9} {'weights':>9} {'max err':>9} {'mean err':>9} {'bound (max / mean)':>19} "
          f"{'median ms':>10} {'speed-up':>9}")
    ok = True
    t_fp32 = 0.0
    for precision, model in models.items():
        y: Array = model(x)[0]
        err = np.abs(y.astype(np.float64) - y_ref)
        max_err, mean_err = float(err.max()), float(err.mean())
        max_bound, mean_bound = (ROOM * v for v in DOCUMENTED[kind, precision])
        within = max_err <= max_bound and mean_err <= mean_bound
        ok = ok and within
        ms = median_ms(lambda: model(x), args.repeats)
        t_fp32 = t_fp32 or ms
        print(f"  {precision:<9} {matrix_bytes(model) / 2**20:>5.2f} MiB {max_err:>9.1e} {mean_err:>9.1e} "
              f"{max_bound:>9.1e} / {mean_bound:.1e} {ms:>10.3f} {t_fp32 / ms:>8.2f}x"
              + ("" if within else "  <- OVER THE DOCUMENTED BOUND"))
    return ok


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--hidden-size", type=int, default=512,
                        help="input and hidden size (default 512; the README's ranges cover 64-512)")
    parser.add_argument("--steps", type=int, default=128, help="time steps (default 128)")
    parser.add_argument("--threads", type=int, default=1, help="threads (default 1, as the README's speed table)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per precision (default 10)")
    parser.add_argument("--kind", choices=("lstm", "gru", "both"), default="both",
                        help="layers to compare (default both)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    kinds = ("lstm", "gru") if args.kind == "both" else (args.kind,)
    ok = all([table(kind, args, rng) for kind in kinds])  # a list: every table is printed
    print("\ncheck: every error within twice the README's documented range" if ok
          else "\ncheck: FAILED, an error is over its documented bound")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
