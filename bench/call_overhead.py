"""Per-call cost of a streaming step from Python (issue 3's per-step overhead target).

B=1, I=H=8, so compute is negligible: what is left is the call itself (the Python
wrapper, argument checks, output arrays, the driver; a call this small keeps the GIL). Prints the minimum and the
median over 5 rounds of N calls each, in microseconds.

    python bench/call_overhead.py [N]
"""

import sys
import time

import numpy as np

import gatedrnn


def per_call_us(f, n):
    for _ in range(1000):
        f()
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            f()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return min(rounds), sorted(rounds)[2]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    cell = gatedrnn.LSTMCell(8, 8, seed=0)
    lstm = gatedrnn.LSTM(8, 8, seed=0)
    x = np.ones((1, 8), np.float32)
    h = np.zeros((1, 8), np.float32)
    c = np.zeros((1, 8), np.float32)
    x3 = np.ones((1, 1, 8), np.float32)
    gru_cell = gatedrnn.GRUCell(8, 8, seed=0)
    stream = lstm.stream()
    calls = [
        ("cell(x)", lambda: cell(x)),
        ("cell(x, (h, c))", lambda: cell(x, (h, c))),
        ("GRUCell(x, h)", lambda: gru_cell(x, h)),
        ("stream.step(x)", lambda: stream.step(x)),
        ("T=1 layer call", lambda: lstm(x3)),
    ]
    print(f"gatedrnn {gatedrnn.__version__}, ISA {gatedrnn.selected_isa()}, B=1, I=H=8, 5 rounds of {n} calls")
    for name, f in calls:
        low, med = per_call_us(f, n)
        print(f"{name:<18} min {low:5.2f} us   median {med:5.2f} us")


if __name__ == "__main__":
    main()
