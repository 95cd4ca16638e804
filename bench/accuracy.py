"""Accuracy of each precision against the float64 reference (the README's table).

    python bench/accuracy.py [--precision fp32,bf16,int8]

For LSTM and GRU layers over the benchmark grid's shapes (T = 128) and over long
sequences (T = 1000), with PyTorch's initialisation (every weight ~ U(-1/sqrt(H),
1/sqrt(H))) and with outliers (1 % of each weight matrix's entries 20x larger), prints
the max and the mean absolute error of y, h_n and c_n against ``gatedrnn.reference`` in
float64 (fp32 arithmetic, unrounded weights: the error a user sees), and the max error
of y over the first and the last quarter of the sequence (does it grow?).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import gatedrnn
from gatedrnn import reference
from gatedrnn.bench import with_outliers

# (T, B, H = input size)
SHAPES = [(128, 1, 256), (128, 1, 512), (128, 32, 256), (1000, 1, 256), (1000, 4, 64)]


def measure(kind, T, B, H, weights, precision, seed=0):
    rng = np.random.default_rng(seed)
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    model = cls(H, H, seed=seed, precision=precision)
    if weights == "outliers":
        model.load_state_dict(with_outliers(model.state_dict(), rng))
    x = rng.standard_normal((T, B, H)).astype(np.float32)
    out = model(x)
    sd = model.state_dict()
    if kind == "lstm":
        y_ref, (h_ref, c_ref) = reference.lstm(x, sd)
        y, (h, c) = out
    else:
        y_ref, h_ref = reference.gru(x, sd)
        (y, h), c, c_ref = out, None, None
    err = np.abs(y - y_ref)
    quarter = max(1, T // 4)
    row = {"kind": kind, "T": T, "B": B, "H": H, "weights": weights, "precision": precision,
           "y max": err.max(), "y mean": err.mean(), "h max": np.abs(h - h_ref).max(),
           "c max": None if c is None else np.abs(c - c_ref).max(),
           "y max, first quarter": err[:quarter].max(), "y max, last quarter": err[-quarter:].max()}
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--precision", default="fp32,bf16,int8", help="comma-separated precisions (default fp32,bf16,int8)")
    args = p.parse_args(argv)
    precisions = args.precision.split(",")
    cols = ["kind", "T", "B", "H", "weights", "precision", "y max", "y mean", "h max", "c max",
            "y max, first quarter", "y max, last quarter"]
    print(f"gatedrnn {gatedrnn.__version__}, ISA {gatedrnn.selected_isa()} "
          f"(bf16 products: {gatedrnn._core.bf16_method()}, int8 products: {gatedrnn._core.int8_method()}); "
          "errors against gatedrnn.reference in float64\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" if c in ("kind", "weights", "precision") else "---:" for c in cols) + "|")
    for kind in ("lstm", "gru"):
        for T, B, H in SHAPES:
            for weights in ("torch-init", "outliers"):
                for precision in precisions:
                    t0 = time.perf_counter()
                    r = measure(kind, T, B, H, weights, precision)
                    cells = [f"{r[c]:.1e}" if isinstance(r[c], (float, np.floating)) else
                             ("-" if r[c] is None else str(r[c])) for c in cols]
                    print("| " + " | ".join(cells) + " |", flush=True)
                    print(f"  ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
