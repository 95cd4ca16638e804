#!/usr/bin/env python3
"""gatedrnn against PyTorch and ONNX Runtime on the benchmark grid, side by side.

Same grid, input, weights, check and timing loop as ``python -m gatedrnn bench``
(gatedrnn.bench): every implementation is built from the gatedrnn model's
state_dict, checked against gatedrnn.reference before it is timed, then all of them
are timed interleaved (gatedrnn, torch, ort, gatedrnn, torch, ort, ...) and the
ratios competitor_median / gatedrnn_median are printed (> 1: gatedrnn is faster).

  torch  torch.nn.LSTM / torch.nn.GRU, torch.set_num_threads(n), inter-op 1 thread,
         inference_mode
  ort    an ONNX LSTM / GRU node (linear_before_reset=1) built with onnx.helper,
         gates reordered from PyTorch's (i,f,g,o / r,z,n) to ONNX's (i,o,f,c / z,r,h),
         intra_op_num_threads=n, inter_op_num_threads=1, sequential execution
  numpy  the hoisted float32 NumPy baseline of gatedrnn.bench (only with --impls numpy;
         it is always run once, untimed, to cross-check all batch rows)

A competitor that is not installed is skipped with a note. Usage:

    python bench/competitors.py --quick
    python bench/competitors.py --cells L1,T1 --threads 1,2 --json out.json
    python bench/competitors.py --full --impls torch,ort,numpy
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from gatedrnn import bench

COMPETITORS = ("torch", "ort", "numpy")
# PyTorch gate order -> ONNX gate order (blocks of H rows).
ONNX_GATE_PERM = {"lstm": (0, 3, 1, 2),   # i,f,g,o -> i,o,f,c
                  "gru": (1, 0, 2)}       # r,z,n   -> z,r,h


# ----------------------------------------------------------------------------------
# Availability

def load_competitors(wanted) -> Tuple[Dict[str, object], List[str]]:
    """Import what is wanted and installed. Returns ({name: module info}, notes)."""
    have, notes = {}, []
    if "torch" in wanted:
        try:
            import torch
            have["torch"] = torch
        except ImportError as e:
            notes.append(f"torch skipped: not installed ({e})")
    if "ort" in wanted:
        try:
            import onnx
            import onnxruntime
            have["ort"] = (onnx, onnxruntime)
        except ImportError as e:
            notes.append(f"ort skipped: onnx and onnxruntime are both needed ({e})")
    if "numpy" in wanted:
        have["numpy"] = np
    return have, notes


def competitor_versions(have) -> dict:
    v = {}
    if "torch" in have:
        v["torch"] = have["torch"].__version__
    if "ort" in have:
        onnx, ort = have["ort"]
        v["onnx"], v["onnxruntime"] = onnx.__version__, ort.__version__
    return v


# ----------------------------------------------------------------------------------
# Builders: each returns a zero-argument callable giving (y, (h, c)) or (y, h).

def make_torch(torch, kind: str, sd: dict, x: np.ndarray) -> Callable[[], object]:
    T, B, I = x.shape
    H = np.asarray(sd["weight_hh_l0"]).shape[1]
    mod = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(I, H)
    with torch.no_grad():
        params = dict(mod.named_parameters())
        for name, value in sd.items():
            params[name].copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))
    mod.eval()
    mod.requires_grad_(False)
    xt = torch.from_numpy(x)
    return lambda: mod(xt)


def onnx_model(onnx, kind: str, sd: dict, T: int, B: int, I: int):
    """An ONNX model with one LSTM / GRU node holding the weights of ``sd``."""
    from onnx import TensorProto, helper, numpy_helper

    G = bench.GATES[kind]
    perm = ONNX_GATE_PERM[kind]

    def reorder(a):
        blocks = np.split(np.asarray(a, dtype=np.float32), G, axis=0)
        return np.concatenate([blocks[p] for p in perm], axis=0)

    w = reorder(sd["weight_ih_l0"])[None]                     # (1, G*H, I)
    r = reorder(sd["weight_hh_l0"])[None]                     # (1, G*H, H)
    H = r.shape[2]
    b = np.concatenate([reorder(sd["bias_ih_l0"]), reorder(sd["bias_hh_l0"])])[None]  # (1, 2*G*H)
    outputs = ["Y", "Y_h"] + (["Y_c"] if kind == "lstm" else [])
    attrs = {"hidden_size": H}
    if kind == "gru":
        attrs["linear_before_reset"] = 1
    node = helper.make_node(kind.upper(), ["X", "W", "R", "B"], outputs, **attrs)
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [node], f"{kind}_T{T}_B{B}_H{H}",
        [helper.make_tensor_value_info("X", f, [T, B, I])],
        [helper.make_tensor_value_info("Y", f, [T, 1, B, H])]
        + [helper.make_tensor_value_info(n, f, [1, B, H]) for n in outputs[1:]],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"),
                     numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                              producer_name="gatedrnn-bench")
    model.ir_version = 8  # old enough for any recent onnxruntime
    onnx.checker.check_model(model)
    return model, outputs


def make_ort(mods, kind: str, sd: dict, x: np.ndarray, threads: int) -> Callable[[], object]:
    onnx, ort = mods
    T, B, I = x.shape
    model, outputs = onnx_model(onnx, kind, sd, T, B, I)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feed = {"X": x}

    def call():
        out = sess.run(outputs, feed)
        y = out[0][:, 0]  # (T, 1, B, H) -> (T, B, H), a view
        return (y, (out[1], out[2])) if kind == "lstm" else (y, out[1])

    return call


# ----------------------------------------------------------------------------------
# The grid

def run(args, argv) -> int:
    settings = bench.resolve_settings(args)
    have, notes = load_competitors(args.impls)
    if "torch" in have:
        torch = have["torch"]
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    meta = bench.collect_meta(settings, argv)
    meta["versions"].update(competitor_versions(have))
    meta["notes"] = notes + meta["notes"]
    names = ["gatedrnn"] + [c for c in COMPETITORS if c in have]
    meta["settings"]["impls"] = names
    print(bench.format_header(meta).replace("## gatedrnn bench", "## gatedrnn vs competitors"))
    extra = ", ".join(f"{k} {meta['versions'][k]}" for k in ("torch", "onnx", "onnxruntime") if k in meta["versions"])
    if extra:
        print(f"- competitors: {extra}")
    print(flush=True)

    results = []
    total = len(settings["cells"]) * len(settings["kinds"]) * len(settings["threads"])
    i = 0
    try:
        for cell in settings["cells"]:
            B, T, I, H = bench.CELLS[cell]
            x = bench.make_input(cell)
            rows = bench.check_rows(B)
            for kind in settings["kinds"]:
                ref_sd = ref = None
                for n in settings["threads"]:
                    i += 1
                    print(f"[{i}/{total}] {kind} {cell} B={B} T={T} H={H} threads={n} ...", end=" ",
                          file=sys.stderr, flush=True)
                    row = {"cell": cell, "kind": kind, **bench.cell_shape(cell), "threads": n,
                           "flops": bench.flops(kind, B, T, I, H), "error": None}
                    impls: Dict[str, Callable[[], object]] = {}
                    setup_errors = {}
                    try:
                        m = bench.make_gatedrnn(kind, I, H, n)
                        sd = m.state_dict()
                        if ref is None or not bench.same_weights(sd, ref_sd):
                            with bench.blas_threads(1):
                                ref = bench.reference_outputs(kind, x if rows is None else x[:, rows], sd)
                            ref_sd = sd
                    except Exception as e:
                        row.update(ok=False, error=f"setup: {type(e).__name__}: {e}", check={}, timings={})
                        results.append(row)
                        print(f"ERROR {row['error']}", file=sys.stderr, flush=True)
                        continue
                    impls["gatedrnn"] = lambda m=m: m(x)
                    builders = {
                        "torch": lambda: make_torch(have["torch"], kind, sd, x),
                        "ort": lambda: make_ort(have["ort"], kind, sd, x, n),
                        "numpy": lambda: (lambda b=bench.numpy_baseline(kind, sd): b(x)),
                    }
                    for c in names[1:]:
                        try:
                            impls[c] = builders[c]()
                        except Exception as e:
                            setup_errors[c] = f"setup: {type(e).__name__}: {e}"
                    untimed = []
                    if rows is not None and "numpy" not in impls:
                        impls["numpy"] = lambda b=bench.numpy_baseline(kind, sd): b(x)
                        untimed.append("numpy")

                    def context(n=n):
                        stack = contextlib.ExitStack()
                        stack.enter_context(bench.blas_threads(n))
                        if "torch" in have:
                            have["torch"].set_num_threads(n)
                            stack.enter_context(have["torch"].inference_mode())
                        return stack

                    r = bench.bench_row(impls, kind, T, ref, settings["time_budget_s"], rows=rows,
                                        cross_check="numpy" if rows is not None else None,
                                        untimed=untimed, context=context,
                                        settle=bench.SETTLE_S if n > 1 else 0.0)
                    for c, err in setup_errors.items():
                        r["check"][c] = {"ok": False, "error": err, "max_abs_err": {}}
                        r["timings"][c] = bench.summarize([])
                        r["ok"] = False
                    for c in untimed:
                        r["timings"].pop(c, None)
                    row.update(r)
                    g = r["timings"]["gatedrnn"]["median_ms"]
                    row["ratios"] = {c: (t["median_ms"] / g if (g and t["median_ms"]) else None)
                                     for c, t in r["timings"].items() if c != "gatedrnn"}
                    results.append(row)
                    parts = [f"{c} {bench.fmt_ms(t['median_ms'])} ms" for c, t in r["timings"].items()]
                    print(("ok: " if row["ok"] else "FAIL: ") + ", ".join(parts), file=sys.stderr, flush=True)
                    for c, chk in r["check"].items():
                        if not chk["ok"]:
                            print(f"    FAIL {c}: {chk['error']}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: the table holds the rows finished so far", file=sys.stderr)

    print(format_table(results, names))
    ok = bool(results) and all(r["ok"] for r in results)
    if args.json:
        bench.write_json(args.json, {**meta, "results": results, "ok": ok})
        print(f"wrote {args.json}", file=sys.stderr)
    return 0 if ok else 1


def format_table(results, names) -> str:
    comps = names[1:]
    cols = (["cell", "kind", "B", "T", "H", "threads"] + [f"{c} ms" for c in names]
            + [f"{c} / gatedrnn" for c in comps] + ["check"])
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---" if c in ("cell", "kind", "check") else "---:" for c in cols) + "|"]
    for r in results:
        t = r.get("timings") or {}
        ratios = r.get("ratios") or {}
        if r.get("error"):
            check = "ERROR"
        else:
            bad = [c for c, chk in r["check"].items() if not chk["ok"]]
            check = "ok" if not bad else "FAIL " + ",".join(bad)
        vals = [r["cell"], r["kind"], r["B"], r["T"], r["H"], r["threads"]]
        vals += [bench.fmt_ms((t.get(c) or {}).get("median_ms")) for c in names]
        vals += [f"{ratios[c]:.2f}" if ratios.get(c) else "-" for c in comps]
        vals.append(check)
        lines.append("| " + " | ".join(map(str, vals)) + " |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(
        prog="competitors.py",
        description="gatedrnn vs PyTorch and ONNX Runtime on the benchmark grid, interleaved; "
                    "ratios are competitor median / gatedrnn median (> 1: gatedrnn faster).")
    bench.add_bench_arguments(p)
    p.add_argument("--impls", type=bench.csv_list(COMPETITORS, what="implementation"),
                   default=["torch", "ort"],
                   help="competitors to run beside gatedrnn (default torch,ort; numpy also available); "
                        "ones not installed are skipped")
    args = p.parse_args(argv)
    bench.reexec_without_openblas_env([os.path.abspath(__file__), *argv])
    return run(args, argv)


if __name__ == "__main__":
    sys.exit(main())
