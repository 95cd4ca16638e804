"""The command line: ``python -m gatedrnn info``, ``bench`` and ``compare``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence


def build_parser() -> argparse.ArgumentParser:
    from gatedrnn import bench

    p = argparse.ArgumentParser(
        prog="python -m gatedrnn",
        description="gatedrnn: fast LSTM/GRU inference on the CPU.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("info", help="version, CPU, ISAs and threads",
                   description="Print gatedrnn's version, Python/NumPy versions, the CPU model and "
                               "features, the available and selected kernel ISA, and the thread count.")
    b = sub.add_parser(
        "bench", help="microbenchmark gatedrnn against NumPy, PyTorch, ONNX Runtime and OpenVINO",
        description="Run the benchmark grid: each cell for LSTM and GRU, "
                    "gatedrnn vs a hoisted float32 NumPy baseline and the competitors installed "
                    "(PyTorch, ONNX Runtime, OpenVINO), each checked against gatedrnn.reference "
                    "before it is timed, all timed interleaved with pinned thread counts. Prints a "
                    "progress line per row to stderr and a markdown table to stdout; exits 1 if a "
                    "gatedrnn or numpy check fails (a competitor that fails is excluded and reported).",
        epilog="cells (B, T, I=H): " + ", ".join(
            f"{c} ({B}, {T}, {H})" for c, (B, T, _, H) in bench.CELLS.items()))
    bench.add_bench_arguments(b)
    from gatedrnn import _compare

    c = sub.add_parser(
        "compare", help="LSTM beside GRU of the same sizes: gates, states, parameters, FLOPs, time",
        description="Build an LSTM and a GRU of the same sizes and print one table: gates, states, "
                    "parameter count (from state_dict()), FLOPs per timestep, state and weight bytes, "
                    "and the measured time per sequence and per step, with the GRU / LSTM ratio of each. "
                    "Both layers are checked against gatedrnn.reference before they are timed, "
                    "interleaved in one run.")
    _compare.add_compare_arguments(c)
    return p


def _fmt_features(features: object) -> str:
    if isinstance(features, dict):
        on = [name for name, v in features.items() if v]
        return " ".join(on) if on else "(none)"
    return str(features)


def info_lines() -> List[str]:
    import platform

    import numpy as np

    import gatedrnn
    from gatedrnn import bench

    g = bench.gatedrnn_info()
    m = bench.machine_info()
    isas = g["available_isas"]
    env_isa = os.environ.get("GATEDRNN_ISA")
    blas = bench.blas_info()
    if blas:
        blas_s = ", ".join(f"{d.get('internal_api')} {d.get('version') or ''}".strip()
                           + (f" ({d['architecture']})" if d.get("architecture") else "")
                           + f", {d.get('num_threads')} threads" for d in blas)
    elif blas is None:
        blas_s = "unknown (threadpoolctl not installed)"
    else:
        blas_s = "none seen by threadpoolctl"
    lines = [
        f"gatedrnn {getattr(gatedrnn, '__version__', 'unknown')} ({os.path.dirname(gatedrnn.__file__)})",
        f"Python {platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
        f"NumPy {np.__version__} (BLAS: {blas_s})",
        f"CPU: {bench.machine_line(m)}",
        f"CPU features: {_fmt_features(g['cpu_features'])}",
        f"ISAs available: {', '.join(isas) if isinstance(isas, (list, tuple)) else isas}",
        f"ISA selected: {g['selected_isa']} (bf16 products: {g.get('bf16')}; int8 products: {g.get('int8')})",
        f"threads: {g['num_threads']}",
        f"GATEDRNN_ISA: {env_isa!r} (set)" if env_isa is not None else "GATEDRNN_ISA: not set",
    ]
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    print("\n".join(info_lines()))
    return 0


def main(argv: Optional[Sequence[str]] = None, *, reexec: bool = False) -> int:
    """Entry point. ``reexec=True`` (the real command line only) lets ``bench``
    re-execute the process once without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "info":
        return cmd_info(args)
    if args.command == "compare":
        from gatedrnn import _compare

        return _compare.run(args, argv)
    from gatedrnn import bench

    if reexec:
        bench.reexec_without_openblas_env(["-m", "gatedrnn", *argv])
    return bench.run(args, argv)
