"""``python -m gatedrnn compare``: an LSTM beside a GRU of the same sizes.

The LSTM has three gates (input, forget, output) and a candidate, and carries two
states (h and c); the GRU has two gates (reset, update) and a candidate, and carries one
state (h). So the GRU has 3/4 of the LSTM's weights, does 3/4 of its multiply-adds and
keeps half its state. This command shows that on real layers: every count comes from the
layers built (the gates from the shape of ``weight_ih_l0``, the parameters from
``state_dict()``, the states from what a call returns), and the times are measured,
LSTM and GRU interleaved in one run, after both are checked against
``gatedrnn.reference``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Dict, Optional, Sequence, TextIO, Tuple

import numpy as np

KINDS = ("lstm", "gru")
GATE_NAMES = {"lstm": "input, forget, output", "gru": "reset, update"}
STATE_NAMES = {"lstm": "h, c", "gru": "h"}
BYTES_PER_WEIGHT = {"fp32": 4, "bf16": 2, "int8": 1}


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m gatedrnn compare``."""
    from gatedrnn import bench

    def positive_int(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
        return v

    p.add_argument("--input-size", type=positive_int, default=256, metavar="I", help="input features (default 256)")
    p.add_argument("--hidden-size", type=positive_int, default=256, metavar="H", help="hidden units (default 256)")
    p.add_argument("--layers", type=positive_int, default=1, metavar="L", help="stacked layers (default 1)")
    p.add_argument("--seq-len", type=positive_int, default=128, metavar="T", help="timesteps per sequence (default 128)")
    p.add_argument("--batch", type=positive_int, default=1, metavar="B", help="sequences per call (default 1)")
    p.add_argument("--threads", type=positive_int, default=1, metavar="N", help="gatedrnn threads (default 1)")
    p.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32",
                   help="weight precision of both layers (default fp32)")
    p.add_argument("--time-budget", type=bench._positive_float, default=1.0, metavar="SECONDS",
                   help="seconds of interleaved timing, for sequences and again for steps (default 1.0)")
    p.add_argument("--json", metavar="FILE", help="also write the settings, machine and every number as JSON")


class CheckFailed(Exception):
    """A layer's output differs from gatedrnn.reference: nothing is timed."""


def _layer(kind: str, args: argparse.Namespace) -> Any:
    import gatedrnn

    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    return cls(args.input_size, args.hidden_size, num_layers=args.layers, seed=0,
               num_threads=args.threads, precision=args.precision)


def _states(kind: str, out: Any) -> Tuple[np.ndarray, ...]:
    """The states a call returns: LSTM (y, (h, c)), GRU (y, h)."""
    _, state = out
    return tuple(state) if kind == "lstm" else (state,)


def _check(kind: str, layer: Any, x: np.ndarray, out: Any, precision: str) -> Dict[str, Any]:
    from gatedrnn import bench, reference

    sd = layer.state_dict()
    ref = (reference.lstm(x, sd, precision=precision) if kind == "lstm"
           else reference.gru(x, sd, precision=precision))
    atol = bench.PRECISION_ATOL.get(precision, bench.ATOL)
    return bench.check_outputs(bench.unpack_outputs(kind, out), bench.unpack_outputs(kind, ref), x.shape[0],
                               atol=atol)


def measure(args: argparse.Namespace, *, seed: int = 1) -> Dict[str, Any]:
    """Build an LSTM and a GRU of the sizes in ``args``, count and time them.

    Returns ``{"lstm": {...}, "gru": {...}}``; each holds gates, weight_blocks,
    states, parameters, flops_per_step, state_bytes, weight_bytes, seq_ms (median ms
    per sequence), step_us (seq_ms / T, in µs), stream_step_us (median µs of one
    ``Stream.step``), the check against the reference and the raw times.
    """
    from gatedrnn import bench

    T, B, I = args.seq_len, args.batch, args.input_size
    x = np.random.default_rng(seed).standard_normal((T, B, I)).astype(np.float32)
    layers = {k: _layer(k, args) for k in KINDS}
    res: Dict[str, Dict[str, Any]] = {}
    for kind, layer in layers.items():
        sd = layer.state_dict()
        H = layer.hidden_size
        blocks = sd["weight_ih_l0"].shape[0] // H  # gates + candidate, stacked row-wise
        matrix_elements = sum(int(v.size) for k, v in sd.items() if k.startswith("weight_"))
        out = layer(x)
        states = _states(kind, out)
        check = _check(kind, layer, x, out, args.precision)
        if not check["ok"]:
            raise CheckFailed(f"{kind}: the output does not match gatedrnn.reference: {check['error']}")
        res[kind] = {
            "gates": blocks - 1, "weight_blocks": blocks,
            "states": len(states),
            "parameters": sum(int(v.size) for v in sd.values()),
            # One multiply and one add per weight-matrix element and batch row, every step.
            "flops_per_step": 2 * B * matrix_elements,
            "state_bytes": sum(int(s.nbytes) for s in states),
            "weight_bytes": matrix_elements * BYTES_PER_WEIGHT[args.precision],
            "check": check,
        }

    def sequence(layer: Any) -> Callable[[], object]:
        return lambda: layer(x)

    seq_times = bench.time_interleaved({k: sequence(layers[k]) for k in KINDS}, args.time_budget)
    streams = {k: layers[k].stream(B) for k in KINDS}
    step_x = np.ascontiguousarray(x[0])

    def step(kind: str) -> Callable[[], object]:
        s = streams[kind]
        return lambda: s.step(step_x)

    for f in (step(k) for k in KINDS):
        f()  # the first step, untimed (bench.time_interleaved assumes one call was made)
    step_times = bench.time_interleaved({k: step(k) for k in KINDS}, args.time_budget)
    for kind in KINDS:
        seq = bench.summarize(seq_times[kind])
        stp = bench.summarize(step_times[kind])
        res[kind].update({
            "seq_ms": seq["median_ms"], "step_us": seq["median_ms"] * 1e3 / T,
            "stream_step_us": stp["median_ms"] * 1e3,
            "seq_times_ms": seq["times_ms"], "stream_step_times_ms": stp["times_ms"],
        })
    return res


ROWS: Sequence[Tuple[str, str, Callable[[float], str]]] = (
    ("gates (+ candidate)", "gates", lambda v: f"{v:.0f}"),
    ("states carried", "states", lambda v: f"{v:.0f}"),
    ("parameters (state_dict)", "parameters", lambda v: f"{v:,.0f}"),
    ("FLOPs per step (matrix multiply-adds)", "flops_per_step", lambda v: f"{v:,.0f}"),
    ("state bytes", "state_bytes", lambda v: f"{v:,.0f}"),
    ("weight bytes ({precision})", "weight_bytes", lambda v: f"{v:,.0f}"),
    ("time per sequence (ms, median)", "seq_ms", lambda v: f"{v:.4g}"),
    ("time per step in a sequence (µs)", "step_us", lambda v: f"{v:.4g}"),
    ("time per streaming step (µs, median)", "stream_step_us", lambda v: f"{v:.4g}"),
)


def format_table(res: Dict[str, Dict[str, Any]], precision: str) -> str:
    """The markdown table: one row per quantity, LSTM | GRU | GRU / LSTM."""
    lines = ["| | LSTM | GRU | GRU / LSTM |", "|---|---:|---:|---:|"]
    for label, key, fmt in ROWS:
        a, b = res["lstm"][key], res["gru"][key]
        extra = {"gates": lambda k: f" ({GATE_NAMES[k]}) + 1", "states": lambda k: f" ({STATE_NAMES[k]})"}.get(key)
        cells = [fmt(a) + (extra("lstm") if extra else ""), fmt(b) + (extra("gru") if extra else "")]
        lines.append(f"| {label.format(precision=precision)} | {cells[0]} | {cells[1]} | {b / a:.2f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace, argv: Optional[Sequence[str]] = None, *, out: Optional[TextIO] = None) -> int:
    """``python -m gatedrnn compare``: print the header and the table. Returns 0 on success,
    1 when a layer fails its check against the reference, 2 when --json cannot be written."""
    from gatedrnn import bench

    out = sys.stdout if out is None else out
    json_file: Optional[TextIO] = None
    if args.json:
        try:  # before anything is timed
            json_file = open(args.json, "w")
        except OSError as e:
            print(f"error: --json {args.json}: {e.strerror}", file=sys.stderr)
            return 2
    try:
        res = measure(args)
    except CheckFailed as e:
        print(f"error: {e}", file=sys.stderr)
        if json_file is not None:
            json_file.close()
        return 1
    g = bench.gatedrnn_info()
    m = bench.machine_info()
    settings = {k: getattr(args, k) for k in ("input_size", "hidden_size", "layers", "seq_len", "batch", "threads",
                                              "precision", "time_budget")}
    print("## gatedrnn compare: LSTM beside GRU\n", file=out)
    print(f"- sizes: input {args.input_size}, hidden {args.hidden_size}, layers {args.layers}, "
          f"T = {args.seq_len} steps, batch {args.batch}; precision {args.precision}", file=out)
    import gatedrnn

    threads = f"{args.threads} thread" + ("s" if args.threads > 1 else "")
    print(f"- machine: {bench.machine_line(m)}; ISA {g['selected_isa']}, {threads}; "
          f"gatedrnn {gatedrnn.__version__}", file=out)
    print("- counts from the layers built (state_dict, the states a call returns); times: medians, "
          f"LSTM and GRU interleaved for {args.time_budget:g} s each for sequences and for streaming steps, "
          "both checked against gatedrnn.reference first\n", file=out)
    print(format_table(res, args.precision), file=out)
    print("\nLSTM: gates i, f, o = sigmoid(W x + U h + b) and candidate g = tanh(W_g x + U_g h + b_g); "
          "c' = f*c + i*g, h' = o*tanh(c').\n"
          "GRU: gates r, z = sigmoid(W x + U h + b) and candidate n = tanh(W_n x + b_in + r*(U_n h + b_hn)); "
          "h' = (1-z)*n + z*h.", file=out)
    if json_file is not None:
        doc = {"settings": settings, "argv": list(argv) if argv is not None else None, "machine": m,
               "gatedrnn": g, "versions": bench.versions_info(), "results": res}
        with json_file:
            json.dump(doc, json_file, indent=1, default=str)
    return 0

