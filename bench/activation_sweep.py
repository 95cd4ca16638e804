"""Exhaustive accuracy sweep of the vectorised sigmoid and tanh: every float32 bit pattern
(2^32 inputs, NaNs checked for propagation) against float64 NumPy, per ISA.

    python bench/activation_sweep.py                 # every available ISA, both functions
    python bench/activation_sweep.py --isa avx2 --step 7   # every 7th bit pattern (faster)

Prints the max absolute error, where it occurs, and the max error in ulps. Takes a few
minutes per ISA and function on one core; the test suite checks ~10^6 points instead.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import gatedrnn
from gatedrnn import _core


def sweep(fn_name: str, step: int, chunk: int = 1 << 24) -> dict:
    kernel = getattr(_core, fn_name)
    worst = {"abs": 0.0, "x": 0.0, "ulp": 0.0, "nan_ok": True}
    with np.errstate(all="ignore"):
        for start in range(0, 1 << 32, chunk):
            bits = np.arange(start, min(start + chunk, 1 << 32), step, dtype=np.uint64).astype(np.uint32)
            x = bits.view(np.float32)
            y = kernel(x)
            nan = np.isnan(x)
            if not np.all(np.isnan(y[nan])):
                worst["nan_ok"] = False
            x64 = x[~nan].astype(np.float64)
            if fn_name == "sigmoid":
                e = np.exp(-np.abs(x64))
                ref = np.where(x64 >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            else:
                ref = np.tanh(x64)
            got = y[~nan].astype(np.float64)
            err = np.abs(got - ref)
            i = int(np.argmax(err))
            if err[i] > worst["abs"]:
                worst["abs"], worst["x"] = float(err[i]), float(x64[i])
            normal = np.abs(ref) >= np.finfo(np.float32).tiny  # ulps of results in the normal range
            ulp = err[normal] / np.spacing(np.abs(ref[normal]).astype(np.float32)).astype(np.float64)
            worst["ulp"] = max(worst["ulp"], float(np.max(ulp)) if ulp.size else 0.0)
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--isa", default=",".join(gatedrnn.available_isas()))
    ap.add_argument("--step", type=int, default=1, help="test every STEP-th bit pattern")
    args = ap.parse_args()
    print("| isa | function | max abs error | at x | max ulp (normal results) | NaN -> NaN | seconds |")
    print("|---|---|---:|---:|---:|---|---:|")
    for isa in args.isa.split(","):
        gatedrnn.set_isa(isa)
        for fn in ("sigmoid", "tanh"):
            t0 = time.perf_counter()
            w = sweep(fn, args.step)
            print(f"| {isa} | {fn} | {w['abs']:.3g} | {w['x']:.9g} | {w['ulp']:.3g} | {w['nan_ok']} | "
                  f"{time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
