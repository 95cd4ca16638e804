"""The benchmark engine behind ``python -m gatedrnn bench``.

It runs the project's benchmark grid (bench/README.md in the repository): forward inference over a whole sequence,
zero initial state, one unidirectional layer, float32, x of shape (T, B, I), LSTM and
GRU (PyTorch's form, linear_before_reset=True), and compares gatedrnn with a NumPy
baseline in the "hoisted" form (one matmul for the input projection of all
timesteps, then a Python loop over the steps) and with the competitor libraries that
are installed (PyTorch, ONNX Runtime, OpenVINO: :mod:`gatedrnn._competitors`, imported
only when used). A competitor that errors or fails its check is reported and left out
of that row's timing.

Protocol: every implementation is checked against the float64
``gatedrnn.reference`` before it is timed; timings are taken in-process with
``time.perf_counter`` around each call, after warm-up, interleaved in short bursts
(gatedrnn calls for ~0.1 s, numpy calls for ~0.1 s, ...) until a per-cell time budget
is spent; medians and minima are
reported, with ratios. NumPy's BLAS threads are pinned with threadpoolctl when it is
installed. ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` are removed from the
environment for a benchmark run by re-executing the process once without them
(:func:`reexec_without_openblas_env`; the CLI does this, the functions here never do).

The pieces are public so that scripts outside the package can time other
implementations with the same grid, check and timing loop.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from types import ModuleType
from typing import (TYPE_CHECKING, Any, Callable, ContextManager, Dict, Iterable, List, Mapping, Optional, Sequence,
                    TextIO, Tuple, TypedDict, Union)

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import argparse

    from ._competitors import Competitor
    from ._layers import GRU, LSTM

__all__ = [
    "CELLS", "KINDS", "ALL_CELLS", "QUICK_CELLS",
    "flops", "make_input", "check_rows", "make_gatedrnn", "same_weights", "fmt_ms", "csv_list",
    "numpy_baseline", "NumpyLSTM", "NumpyGRU",
    "reference_outputs", "unpack_outputs", "check_outputs", "time_interleaved",
    "summarize", "machine_info", "versions_info", "blas_info", "blas_threads",
    "bench_row", "run_grid", "format_header", "format_table", "floor_ms", "CEILINGS",
    "plot_results", "add_bench_arguments", "resolve_settings", "run", "reexec_without_openblas_env",
]

# cell -> (B, T, I, H); I = H everywhere.
CELLS: Dict[str, Tuple[int, int, int, int]] = {
    "L1": (1, 128, 256, 256),
    "L2": (1, 128, 512, 512),
    "L3": (1, 128, 1024, 1024),
    "T1": (32, 128, 256, 256),
    "T2": (64, 128, 512, 512),
    "T3": (64, 64, 1024, 1024),
    "S1": (1, 1, 256, 256),
}
ALL_CELLS: Tuple[str, ...] = tuple(CELLS)
QUICK_CELLS: Tuple[str, ...] = ("L1", "T1", "S1")
KINDS: Tuple[str, ...] = ("lstm", "gru")
GATES = {"lstm": 4, "gru": 3}

# Presets: time budget (seconds of interleaved timing per table row) and thread counts.
DEFAULT_BUDGET = 1.5
QUICK_BUDGET = 0.25
FULL_BUDGET = 3.0
MIN_REPEATS = 3
MAX_REPEATS = 100_000
# Accuracy check against the float64 reference: |got - ref| <= atol + rtol * |ref|,
# atol scaled up for sequences longer than 128 steps (float32 error grows with T).
ATOL = 2e-4
RTOL = 1e-4
CHECK_ROWS = 8

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REEXEC_MARKER = "GATEDRNN_BENCH_REEXEC"

Outputs = Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]  # (y, h_n, c_n or None)
# What a layer returns: LSTM (y, (h_n, c_n)), GRU (y, h_n).
LayerOutputs = Union[Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]], Tuple[np.ndarray, np.ndarray]]
# A model's parameters under PyTorch's names (``state_dict()``).
StateDict = Mapping[str, npt.ArrayLike]
F32 = npt.NDArray[np.float32]


def flops(kind: str, B: int, T: int, I: int, H: int) -> int:
    """FLOPs of one forward pass: 2*T*B*G*H*(I+H), G = 4 (LSTM) or 3 (GRU)."""
    return 2 * T * B * GATES[kind] * H * (I + H)


# The fp32 roofline floor (shared/BENCHMARKS.md): the input-projection GEMM at FMA peak,
# then T recurrent steps, each taking at least max(its FLOPs at peak, the time to stream
# every thread's slice of W_hh from the cache level that holds it). A single step
# (T = 1) streams W_ih too. The ceilings are the ones measured on the project's machine;
# on another machine the floor is only indicative.
class Ceilings(TypedDict):
    """The measured ceilings :func:`floor_ms` takes (``CEILINGS``: the project's machine)."""

    machine: str
    fma_flops_per_core: float
    l2_slice_bytes: int
    l2_bytes_per_s_per_core: float
    shared_bytes_per_s: Dict[int, List[Tuple[Optional[int], float]]]


CEILINGS: Ceilings = {
    "machine": "2 cores of an AMD EPYC Zen 4 (shared/BENCHMARKS.md)",
    "fma_flops_per_core": 117e9,       # fp32 FMA peak; AVX-512 and AVX2 alike on Zen 4
    "l2_slice_bytes": 768 * 1024,      # a thread's W_hh slice stays in its own 1 MiB L2 up to this
    "l2_bytes_per_s_per_core": 116e9,
    # Past L2: [(total bytes up to, total read bytes/s)], by thread count (None: any size).
    "shared_bytes_per_s": {1: [(8 << 20, 95e9), (24 << 20, 68e9), (None, 24e9)],
                           2: [(16 << 20, 174e9), (24 << 20, 120e9), (None, 34e9)]},
}


def floor_ms(kind: str, B: int, T: int, I: int, H: int, threads: int,
             ceilings: Optional[Ceilings] = None) -> Optional[float]:
    """The fp32 floor in ms of one forward pass (None for thread counts without
    measured ceilings)."""
    c = CEILINGS if ceilings is None else ceilings
    shared = c["shared_bytes_per_s"].get(threads)
    if shared is None:
        return None
    peak = c["fma_flops_per_core"] * threads
    G = GATES[kind]

    def stream_s(nbytes: float) -> float:
        if nbytes / threads <= c["l2_slice_bytes"]:
            return nbytes / (c["l2_bytes_per_s_per_core"] * threads)
        for limit, bandwidth in shared:
            if limit is None or nbytes <= limit:
                return nbytes / bandwidth
        return float("nan")

    if T == 1:
        return 1e3 * max(2 * B * G * H * (I + H) / peak, stream_s(4 * G * H * (I + H)))
    step = max(2 * B * G * H * H / peak, stream_s(4 * G * H * H))
    return 1e3 * (2 * T * B * G * H * I / peak + T * step)


def max_cell_time(budget: float) -> float:
    """Hard cap on one row's timing loop: rows whose calls are slow get fewer than
    MIN_REPEATS repeats (never fewer than one after warm-up)."""
    return max(5.0 * budget, 6.0)


def make_input(cell: str, seed: int = 1) -> np.ndarray:
    """The benchmark input of a cell: float32 standard normal, shape (T, B, I)."""
    B, T, I, _ = CELLS[cell]
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, I), dtype=np.float32)


def check_rows(B: int) -> Optional[List[int]]:
    """The batch rows checked against the float64 reference (None: all of them).

    The reference costs a float64 pass over the whole batch, which for the big batch
    cells (T2, T3) takes longer than the rest of the run; rows are independent, so
    above CHECK_ROWS rows the reference runs on the first three, the middle two and
    the last three rows, and every implementation is also compared, on all rows,
    with the NumPy baseline (itself checked against the reference)."""
    if B <= CHECK_ROWS:
        return None
    return sorted({0, 1, 2, B // 2 - 1, B // 2, B - 3, B - 2, B - 1})


# ----------------------------------------------------------------------------------
# The NumPy baseline: float32, hoisted input projection, Python step loop.

def _sigmoid(x: np.ndarray) -> np.ndarray:
    # sigma(x) = (1 + tanh(x/2)) / 2: no overflow warning for large |x|, stays float32.
    t = np.tanh(x * np.float32(0.5))
    t += np.float32(1.0)
    t *= np.float32(0.5)
    return t


def _f32(sd: StateDict, key: str, shape: Optional[Tuple[int, ...]] = None) -> F32:
    a = np.asarray(sd[key], dtype=np.float32)
    if shape is not None and a.shape != shape:
        raise ValueError(f"state_dict key {key!r}: expected shape {shape}, got {a.shape}")
    return a


class _NumpyRNN:
    G = 4
    # Set by the subclass's _set_biases (declared for type checkers only).
    b_x: F32
    _set_biases: Callable[[F32, F32], None]

    def __init__(self, state_dict: StateDict) -> None:
        w_ih = np.asarray(state_dict["weight_ih_l0"], dtype=np.float32)
        GH, I = w_ih.shape
        if GH % self.G:
            raise ValueError(f"state_dict key 'weight_ih_l0': first dim {GH} is not a multiple of {self.G}")
        H = GH // self.G
        w_hh = _f32(state_dict, "weight_hh_l0", (GH, H))
        if "bias_ih_l0" in state_dict:
            b_ih = _f32(state_dict, "bias_ih_l0", (GH,))
            b_hh = _f32(state_dict, "bias_hh_l0", (GH,))
        else:
            b_ih = b_hh = np.zeros(GH, np.float32)
        self.input_size, self.hidden_size = I, H
        self.w_ih_t = np.ascontiguousarray(w_ih.T)      # (I, G*H)
        self.w_hh_t = np.ascontiguousarray(w_hh.T)      # (H, G*H)
        self._set_biases(b_ih, b_hh)

    def _project(self, x: npt.ArrayLike) -> F32:
        x = np.ascontiguousarray(x, dtype=np.float32)
        T, B, I = x.shape
        xp = x.reshape(T * B, I) @ self.w_ih_t          # one GEMM for all timesteps
        xp += self.b_x
        return xp.reshape(T, B, self.G * self.hidden_size)


class NumpyLSTM(_NumpyRNN):
    """Hoisted float32 NumPy LSTM (gate order i, f, g, o); returns (y, (h_n, c_n))."""
    G = 4

    def _set_biases(self, b_ih: F32, b_hh: F32) -> None:
        self.b_x = b_ih + b_hh                           # both biases go with the input projection

    def __call__(self, x: npt.ArrayLike) -> Tuple[F32, Tuple[F32, F32]]:
        xp = self._project(x)
        T, B, _ = xp.shape
        H = self.hidden_size
        w_hh_t = self.w_hh_t
        h = np.zeros((B, H), np.float32)
        c = np.zeros((B, H), np.float32)
        y = np.empty((T, B, H), np.float32)
        for t in range(T):
            g = h @ w_hh_t
            g += xp[t]
            s_if = _sigmoid(g[:, : 2 * H])
            c = s_if[:, H:] * c + s_if[:, :H] * np.tanh(g[:, 2 * H: 3 * H])
            h = _sigmoid(g[:, 3 * H:]) * np.tanh(c)
            y[t] = h
        return y, (h[None], c[None])


class NumpyGRU(_NumpyRNN):
    """Hoisted float32 NumPy GRU, linear_before_reset=True (gate order r, z, n);
    returns (y, h_n)."""
    G = 3

    def _set_biases(self, b_ih: F32, b_hh: F32) -> None:
        H = b_ih.shape[0] // 3
        self.b_x = b_ih.copy()
        self.b_x[: 2 * H] += b_hh[: 2 * H]              # r, z: both biases pre-summed
        self.b_hn = b_hh[2 * H:].copy()                  # n: b_hn stays inside r * (.)

    def __call__(self, x: npt.ArrayLike) -> Tuple[F32, F32]:
        xp = self._project(x)
        T, B, _ = xp.shape
        H = self.hidden_size
        w_hh_t, b_hn = self.w_hh_t, self.b_hn
        h = np.zeros((B, H), np.float32)
        y = np.empty((T, B, H), np.float32)
        for t in range(T):
            hp = h @ w_hh_t
            xt = xp[t]
            rz = _sigmoid(xt[:, : 2 * H] + hp[:, : 2 * H])
            hn = hp[:, 2 * H:]
            hn += b_hn
            hn *= rz[:, :H]
            hn += xt[:, 2 * H:]
            n = np.tanh(hn)
            h = n + rz[:, H:] * (h - n)                  # (1 - z) * n + z * h
            y[t] = h
        return y, h[None]


def numpy_baseline(kind: str, state_dict: StateDict) -> Union[NumpyLSTM, NumpyGRU]:
    """The NumPy baseline of ``kind`` ('lstm' or 'gru') with the weights of ``state_dict``."""
    classes: Dict[str, Callable[[StateDict], Union[NumpyLSTM, NumpyGRU]]] = {"lstm": NumpyLSTM, "gru": NumpyGRU}
    return classes[kind](state_dict)


# ----------------------------------------------------------------------------------
# Checking.

def unpack_outputs(kind: str, out: Any) -> Outputs:
    """(y, (h_n, c_n)) or (y, h_n) -> (y, h_n, c_n or None)."""
    y, state = out
    if kind == "lstm":
        h, c = state
        return y, h, c
    return y, state, None


def reference_outputs(kind: str, x: np.ndarray, state_dict: StateDict) -> Outputs:
    """float64 outputs of gatedrnn.reference for a zero initial state."""
    from gatedrnn import reference

    out: LayerOutputs
    if kind == "lstm":
        out = reference.lstm(x, state_dict)
    else:
        out = reference.gru(x, state_dict, linear_before_reset=True)
    y, h, c = unpack_outputs(kind, out)
    return (np.asarray(y, np.float64), np.asarray(h, np.float64),
            None if c is None else np.asarray(c, np.float64))


def check_outputs(got: Sequence[Optional[np.ndarray]], ref: Sequence[Optional[np.ndarray]], T: int, *,
                  rows: Optional[Sequence[int]] = None, atol: float = ATOL, rtol: float = RTOL,
                  require_float32: bool = True) -> Dict[str, Any]:
    """Compare (y, h_n, c_n) with the reference. ``rows``: the batch rows ``ref``
    holds (None: all). Returns a dict with 'ok', the max abs error of each output,
    the tolerance, the rows compared, and 'error' (a message) when not ok."""
    atol = atol * max(1.0, T / 128.0)
    res: Dict[str, Any] = {"ok": True, "atol": atol, "rtol": rtol, "rows": "all" if rows is None else list(rows),
                           "max_abs_err": {}, "error": None}
    problems: List[str] = []
    for name, g, r in zip(("y", "h_n", "c_n"), got, ref):
        if r is None:
            continue
        if g is None:
            problems.append(f"{name}: missing")
            continue
        g = np.asarray(g)
        if require_float32 and g.dtype != np.float32:
            problems.append(f"{name}: expected dtype float32, got {g.dtype}")
        if (rows is not None and g.ndim == 3 and g.shape[1] > max(rows)
                and g.shape[:1] + g.shape[2:] == r.shape[:1] + r.shape[2:]):
            g = g[:, list(rows)]  # y (T, B, H) and states (1, B, H): batch is axis 1
        if g.shape != r.shape:
            problems.append(f"{name}: expected shape {r.shape}, got {g.shape}")
            continue
        diff = np.abs(g.astype(np.float64) - r)
        err = float(diff.max()) if diff.size else 0.0
        finite = bool(np.isfinite(diff).all())
        res["max_abs_err"][name] = err if finite else float("nan")
        if not finite or bool((diff > atol + rtol * np.abs(r)).any()):
            problems.append(f"{name}: max |got - ref| = {err:.3g} > tol (atol {atol:.1g}, rtol {rtol:.1g})"
                            if finite else f"{name}: non-finite values")
    if problems:
        res["ok"] = False
        res["error"] = "; ".join(problems)
    return res


# ----------------------------------------------------------------------------------
# Timing.

BURST_S = 0.1  # seconds of back-to-back calls per implementation within a round
SETTLE_S = 0.15  # multi-threaded rows: idle seconds before each burst (pools wind down)


def time_interleaved(fns: Mapping[str, Callable[[], object]], budget: float, *,
                     estimate: Optional[float] = None, min_repeats: int = MIN_REPEATS,
                     max_time: Optional[float] = None,
                     max_repeats: int = MAX_REPEATS, settle: float = 0.0) -> Dict[str, List[float]]:
    """Time zero-argument callables, interleaved round by round (a-burst, b-burst, ...).

    Each callable is assumed to have been called once already (the accuracy check);
    ``estimate`` is the seconds one round took then. Cheap rounds get more warm-up
    (about a tenth of the budget); expensive ones (a round over a third of the
    budget) count the check as their warm-up. Then rounds repeat until ``budget``
    seconds have passed and ``min_repeats`` rounds are done, but never past
    ``max_time`` seconds (when one round is that slow, fewer rounds; at least one).
    With ``settle`` > 0 the machine idles that many seconds before each burst (not
    counted in the budget), so thread pools the previous implementation left spinning
    (OpenBLAS workers spin for about 0.1 s after a call) wind down first.
    Returns name -> list of seconds per call. The garbage collector is off meanwhile.
    """
    if max_time is None:
        max_time = max_cell_time(budget)
    names = list(fns)
    calls = [fns[n] for n in names]
    times: Dict[str, List[float]] = {n: [] for n in names}
    clock = time.perf_counter
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        # Warm-up.
        if estimate is None or estimate <= budget / 3.0:
            start = clock()
            while True:
                for f in calls:
                    f()
                if clock() - start >= 0.1 * budget:
                    break
        # Timed rounds.
        start = clock()
        rounds = 0
        last_round = 0.0
        idle = 0.0  # settle time, excluded from the budget
        while True:
            r0 = clock()
            for n, f in zip(names, calls):
                if settle > 0:
                    time.sleep(settle)
                    idle += settle
                # A burst of calls per implementation (at least one, about BURST_S seconds):
                # fine enough interleaving to share the machine's drift, coarse enough that
                # one implementation's thread pool winding down (BLAS workers spin for a
                # while after a call) does not land in the other's every call.
                b0 = clock()
                while True:
                    t0 = clock()
                    f()
                    t1 = clock()
                    times[n].append(t1 - t0)
                    if t1 - b0 >= BURST_S or (t1 - start - idle) + (t1 - t0) > max_time:
                        break
            now = clock()
            last_round = now - r0 - (settle * len(calls))
            rounds += 1
            elapsed = now - start - idle
            if rounds >= max_repeats:
                break
            if elapsed >= budget and rounds >= min_repeats:
                break
            if elapsed + last_round > max_time:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def summarize(seconds: Sequence[float]) -> Dict[str, Any]:
    """median/min/mean in ms, repeats, and every time in ms."""
    ms = [s * 1e3 for s in seconds]
    if not ms:
        return {"median_ms": None, "min_ms": None, "mean_ms": None, "repeats": 0, "times_ms": []}
    return {"median_ms": statistics.median(ms), "min_ms": min(ms),
            "mean_ms": statistics.fmean(ms), "repeats": len(ms),
            "times_ms": [float(f"{v:.6g}") for v in ms]}


# ----------------------------------------------------------------------------------
# Machine, versions, BLAS threads.

def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model", "Hardware"):
                    if value.strip():
                        return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> Dict[str, Any]:
    logical = os.cpu_count()
    usable: Optional[int]
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = logical
    return {"cpu_model": _cpu_model(), "logical_cpus": logical, "usable_cpus": usable,
            "arch": platform.machine(), "system": f"{platform.system()} {platform.release()}",
            "hostname": platform.node()}


def machine_line(m: Dict[str, Any]) -> str:
    cpus = f"{m['logical_cpus']} logical CPUs"
    if m["usable_cpus"] != m["logical_cpus"]:
        cpus += f", {m['usable_cpus']} usable"
    return f"{m['cpu_model']} ({cpus}), {m['arch']} {m['system']}"


def _module_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


# Libraries whose versions go into every JSON (None: not installed); looked up in the
# installed distributions' metadata, without importing them.
OPTIONAL_LIBRARIES = ("threadpoolctl", "torch", "onnx", "onnxruntime", "openvino", "matplotlib")


def versions_info() -> Dict[str, Optional[str]]:
    import gatedrnn

    v: Dict[str, Optional[str]] = {"gatedrnn": getattr(gatedrnn, "__version__", "unknown"),
                                   "python": platform.python_version(),
                                   "python_implementation": platform.python_implementation(),
                                   "numpy": np.__version__}
    for name in OPTIONAL_LIBRARIES:
        v[name] = _module_version(name)
    return v


def _threadpoolctl() -> Optional[ModuleType]:
    try:
        import threadpoolctl
    except ImportError:
        return None
    module: ModuleType = threadpoolctl
    return module


def blas_info() -> Optional[List[Dict[str, Any]]]:
    """threadpoolctl's view of the BLAS libraries loaded (None without threadpoolctl)."""
    tpc = _threadpoolctl()
    if tpc is None:
        return None
    keep = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: d.get(k) for k in keep} for d in tpc.threadpool_info() if d.get("user_api") == "blas"]


def blas_line(blas: Optional[List[Dict[str, Any]]]) -> str:
    if blas is None:
        return "not pinned (threadpoolctl not installed)"
    if not blas:
        return "no BLAS library seen by threadpoolctl"
    parts = []
    for d in blas:
        s = f"{d.get('internal_api')} {d.get('version') or ''}".strip()
        if d.get("architecture"):
            s += f" ({d['architecture']})"
        parts.append(s)
    return ", ".join(parts) + "; threads pinned with threadpoolctl"


def blas_threads(n: int) -> ContextManager[Any]:
    """Context manager pinning the BLAS libraries' threads to n (no-op without threadpoolctl)."""
    tpc = _threadpoolctl()
    if tpc is None:
        return contextlib.nullcontext()
    limits: ContextManager[Any] = tpc.threadpool_limits(limits=n, user_api="blas")
    return limits


def gatedrnn_info() -> Dict[str, Any]:
    import gatedrnn

    def call(name: str, default: object = None) -> object:
        f = getattr(gatedrnn, name, None)
        try:
            return f() if f is not None else default
        except Exception as e:  # info must not crash on a partial build
            return f"unavailable ({type(e).__name__}: {e})"

    def method(precision: str) -> object:
        f = getattr(getattr(gatedrnn, "_core", None), f"{precision}_method", None)
        try:
            return f() if f is not None else None
        except Exception as e:
            return f"unavailable ({type(e).__name__}: {e})"

    return {"selected_isa": call("selected_isa"), "available_isas": call("available_isas"),
            "cpu_features": call("cpu_features"), "num_threads": call("get_num_threads"),
            "bf16": method("bf16"), "int8": method("int8"), "GATEDRNN_ISA": os.environ.get("GATEDRNN_ISA")}


# ----------------------------------------------------------------------------------
# One row of the table, and the grid.

def cell_shape(cell: str) -> Dict[str, int]:
    B, T, I, H = CELLS[cell]
    return {"B": B, "T": T, "I": I, "H": H}


def bench_row(impls: Mapping[str, Callable[[], object]], kind: str, T: int, ref: Outputs,
              budget: float, *, rows: Optional[Sequence[int]] = None,
              cross_check: Optional[str] = None, untimed: Iterable[str] = (),
              context: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
              min_repeats: int = MIN_REPEATS, settle: float = 0.0,
              exclude_failed: Iterable[str] = (), atols: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
    """Check then time a set of implementations of one (cell, kind, threads) row.

    ``impls`` maps a name to a zero-argument callable returning the layer's outputs
    ((y, (h, c)) or (y, h)). Each is called once and checked against ``ref`` (the
    reference outputs of batch ``rows``, None: all rows); this first call is its
    warm-up. With ``cross_check`` (the name of one of ``impls``, called first), every
    other implementation is also compared on all rows with that one's outputs. The
    implementations that ran and are not ``untimed`` are then timed interleaved, in
    the order of ``impls``; one that raises is reported with its error, not timed, and
    so is one named in ``exclude_failed`` (the competitors) whose check fails.
    ``context`` is entered around all calls (e.g. BLAS thread pinning); ``settle`` is
    passed to :func:`time_interleaved`. ``atols`` gives some implementations (reduced
    precision) their own absolute tolerance.
    """
    atols = dict(atols or {})
    checks: Dict[str, Dict[str, Any]] = {}
    first: Dict[str, float] = {}
    outputs: Dict[str, Outputs] = {}
    untimed = set(untimed)
    order = list(impls)
    if cross_check is not None:
        order.remove(cross_check)
        order.insert(0, cross_check)
    with context():
        for name in order:
            try:
                t0 = time.perf_counter()
                out = unpack_outputs(kind, impls[name]())
                first[name] = time.perf_counter() - t0
            except Exception as e:
                checks[name] = {"ok": False, "error": f"{type(e).__name__}: {e}", "max_abs_err": {}}
                continue
            atol = atols.get(name, ATOL)
            c = check_outputs(out, ref, T, rows=rows, atol=atol)
            if cross_check is not None and name != cross_check:
                base = checks.get(cross_check)
                if base is not None and base["ok"]:
                    full = tuple(None if a is None else np.asarray(a, np.float64) for a in outputs[cross_check])
                    cc = check_outputs(out, full, T, require_float32=False, atol=atol)
                else:
                    cc = {"ok": False, "error": f"{cross_check} failed its own check", "max_abs_err": {}}
                c["vs_" + cross_check] = cc
                if not cc["ok"]:
                    c["ok"] = False
                    msg = f"all rows vs {cross_check}: {cc['error']}"
                    c["error"] = f"{c['error']}; {msg}" if c["error"] else msg
            checks[name] = c
            if name == cross_check:
                outputs[name] = out
        outputs.clear()
        exclude_failed = set(exclude_failed)
        timed = {n: impls[n] for n in impls if n in first and n not in untimed
                 and not (n in exclude_failed and not checks[n]["ok"])}
        times: Dict[str, List[float]] = {}
        if timed:
            times = time_interleaved(timed, budget, estimate=sum(first[n] for n in timed),
                                     min_repeats=min_repeats, settle=settle)
    timings: Dict[str, Dict[str, Any]] = {}
    for name in impls:
        s = summarize(times.get(name, []))
        s["first_call_ms"] = first[name] * 1e3 if name in first else None
        timings[name] = s
    return {"check": {n: checks[n] for n in impls}, "timings": timings,
            "ok": all(c["ok"] for c in checks.values())}


def make_gatedrnn(kind: str, I: int, H: int, threads: int, precision: str = "fp32") -> Union[LSTM, GRU]:
    import gatedrnn

    if kind == "lstm":
        return gatedrnn.LSTM(I, H, seed=0, num_threads=threads, precision=precision)
    return gatedrnn.GRU(I, H, linear_before_reset=True, seed=0, num_threads=threads, precision=precision)


def with_outliers(state_dict: StateDict, rng: np.random.Generator, fraction: float = 0.01,
                  scale: float = 20.0) -> Dict[str, F32]:
    """A copy of ``state_dict`` with ``fraction`` of every weight matrix's entries made
    ``scale`` times larger (biases kept): the outliers of trained weights, for accuracy
    measurements of reduced precisions."""
    out: Dict[str, F32] = {}
    for name, value in state_dict.items():
        value = np.array(value, np.float32)
        if name.startswith("weight"):
            value[rng.random(value.shape) < fraction] *= scale
        out[name] = value
    return out


# Reduced precisions are timed as extra columns (gatedrnn-<precision>) and checked against
# the same float64 reference with their own bound: the max error tests/test_precision.py
# holds each to on PyTorch-initialised weights (measured: bf16 2.0e-3-4.7e-3, int8
# 9.2e-3-2.1e-2).
PRECISIONS = ("fp32", "bf16", "int8")
PRECISION_ATOL = {"bf16": 1e-2, "int8": 4e-2}


def same_weights(a: StateDict, b: StateDict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def fmt_ms(v: Optional[float]) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if v >= 1000 else f"{v:.4g}"


def _progress_summary(row: Dict[str, Any]) -> str:
    """The end of a row's progress line: status, each median, the ratios."""
    if row.get("error"):
        return f"ERROR {row['error']}"
    parts = [f"{name} {fmt_ms(t['median_ms'])} ms" for name, t in row["timings"].items()
             if t["median_ms"] is not None]
    ratios = []
    if row.get("speedup"):
        ratios.append(f"vs numpy x{row['speedup']:.2f}")
    if row.get("best_ratio"):
        ratios.append(f"vs best ({row['best_competitor']}) x{row['best_ratio']:.2f}")
    reps = row["timings"].get("gatedrnn", {}).get("repeats")
    return (("ok: " if row["ok"] else "FAIL: ") + ", ".join(parts)
            + (f"; {', '.join(ratios)}" if ratios else "") + f" ({reps} repeats)")


def run_grid(cells: Sequence[str], kinds: Sequence[str], threads: Sequence[int], budget: float,
             *, progress: Optional[TextIO] = sys.stderr, results: Optional[List[Dict[str, Any]]] = None,
             competitors: Optional[Mapping[str, Competitor]] = None,
             precisions: Sequence[str] = ("fp32",)) -> List[Dict[str, Any]]:
    """gatedrnn vs the NumPy baseline and ``competitors`` (name -> adapter of
    :mod:`gatedrnn._competitors`) over the grid, all interleaved in each row. Rows are
    appended to ``results`` (a new list when None) as they finish, so a caller keeps
    the finished rows when the run is interrupted. A row is ok when gatedrnn and numpy
    pass their checks; a competitor that raises or fails its check is listed in the
    row's ``excluded`` and not timed. Each of ``precisions`` other than fp32 adds
    gatedrnn in that precision (``gatedrnn-bf16``), same weights, timed in the same
    rounds; its failed check fails the row."""
    reduced = [p for p in precisions if p != "fp32"]
    extra = [f"gatedrnn-{p}" for p in reduced]
    if results is None:
        results = []
    competitors = dict(competitors or {})
    total = len(cells) * len(kinds) * len(threads)
    i = 0
    for cell in cells:
        B, T, I, H = CELLS[cell]
        for kind in kinds:
            x = make_input(cell)
            rows = check_rows(B)
            ref_sd: Optional[Dict[str, F32]] = None
            ref: Optional[Outputs] = None
            for n in threads:
                i += 1
                row: Dict[str, Any] = {"cell": cell, "kind": kind, **cell_shape(cell), "threads": n,
                                       "flops": flops(kind, B, T, I, H), "floor_ms": floor_ms(kind, B, T, I, H, n)}
                if progress is not None:
                    print(f"[{i}/{total}] {kind} {cell} B={B} T={T} H={H} threads={n} ...",
                          end=" ", file=progress, flush=True)
                row_start = time.perf_counter()
                try:
                    m = make_gatedrnn(kind, I, H, n)
                    sd = m.state_dict()
                    row["gatedrnn_num_threads"] = getattr(m, "num_threads", n)
                    if ref is None or ref_sd is None or not same_weights(sd, ref_sd):
                        t0 = time.perf_counter()
                        with blas_threads(1):  # an oversubscribed BLAS pool can be 5x slower
                            ref = reference_outputs(kind, x if rows is None else x[:, rows], sd)
                        ref_sd = sd
                        row["reference_s"] = time.perf_counter() - t0
                    base = numpy_baseline(kind, sd)
                except Exception as e:
                    row.update(ok=False, error=f"setup: {type(e).__name__}: {e}", check={}, timings={},
                               speedup=None, gflops=None, best_competitor=None, best_ratio=None, excluded={})
                    results.append(row)
                    if progress is not None:
                        print(f"ERROR {row['error']}", file=progress, flush=True)
                    continue
                impls: Dict[str, Callable[..., object]] = {"gatedrnn": (lambda m=m: m(x))}  # each called with ()
                for p in reduced:
                    mp = make_gatedrnn(kind, I, H, n, p)
                    mp.load_state_dict(sd)
                    impls[f"gatedrnn-{p}"] = lambda mp=mp: mp(x)
                impls["numpy"] = lambda b=base: b(x)
                # Competitors: built from the same weights; a setup error excludes one.
                setup_errors: Dict[str, str] = {}
                settings: Dict[str, Dict[str, Any]] = {}
                for name, adapter in competitors.items():
                    try:
                        impls[name], settings[name] = adapter.build(kind, sd, x, n)
                    except Exception as e:
                        setup_errors[name] = f"setup: {type(e).__name__}: {e}"
                row["impl_settings"] = settings

                def context(n: int = n) -> contextlib.ExitStack:
                    stack = contextlib.ExitStack()
                    stack.enter_context(blas_threads(n))
                    for name in impls:
                        if name in competitors:
                            stack.enter_context(competitors[name].context(n))
                    return stack

                r = bench_row(impls, kind, T, ref, budget, rows=rows,
                              cross_check="numpy" if rows is not None else None,
                              context=context, settle=SETTLE_S if n > 1 else 0.0,
                              exclude_failed=list(competitors),
                              atols={f"gatedrnn-{p}": PRECISION_ATOL[p] for p in reduced})
                for name, err in setup_errors.items():
                    r["check"][name] = {"ok": False, "error": err, "max_abs_err": {}}
                    r["timings"][name] = {**summarize([]), "first_call_ms": None}
                names = ("gatedrnn", *extra, "numpy", *competitors)
                check = {name: r["check"][name] for name in names}
                timings = {name: r["timings"][name] for name in names}
                row.update(check=check, timings=timings, error=None,
                           ok=all(check[k]["ok"] for k in ("gatedrnn", *extra, "numpy")))
                row["excluded"] = {name: check[name]["error"] or "failed"
                                   for name in competitors if not check[name]["ok"]}
                g = timings["gatedrnn"]["median_ms"]
                nmed = timings["numpy"]["median_ms"]
                row["speedup"] = nmed / g if (g and nmed) else None
                row["gflops"] = row["flops"] / (g * 1e-3) / 1e9 if g else None
                best = min(((timings[c]["median_ms"], c) for c in competitors
                            if c not in row["excluded"] and timings[c]["median_ms"]), default=None)
                row["best_competitor"] = best[1] if best else None
                row["best_ms"] = best[0] if best else None
                row["best_ratio"] = best[0] / g if (best and g) else None
                row["ratios"] = {c: (timings[c]["median_ms"] / g if (g and timings[c]["median_ms"]) else None)
                                 for c in timings if c != "gatedrnn"}
                for p, name in zip(reduced, extra):  # time in precision p / fp32 time
                    row[f"{p}_ratio"] = row["ratios"][name]
                row["wall_s"] = time.perf_counter() - row_start
                results.append(row)
                if progress is not None:
                    print(_progress_summary(row), file=progress, flush=True)
                    for name, c in check.items():
                        if not c["ok"]:
                            what = "excluded" if name in competitors else "FAIL"
                            print(f"    {what} {name}: {c['error']}", file=progress, flush=True)
    return results


# ----------------------------------------------------------------------------------
# Output.

THREAD_PINNING = {"torch": "torch.set_num_threads(n)", "ort": "ORT intra_op_num_threads=n, inter_op 1",
                  "ov": "OpenVINO INFERENCE_NUM_THREADS=n"}


def format_header(meta: Dict[str, Any]) -> str:
    v, g = meta["versions"], meta["gatedrnn"]
    isas = g["available_isas"]
    isas = ", ".join(isas) if isinstance(isas, (list, tuple)) else str(isas)
    env_isa = f"GATEDRNN_ISA={g['GATEDRNN_ISA']}" if g["GATEDRNN_ISA"] else "GATEDRNN_ISA not set"
    s = meta["settings"]
    order = s.get("impls", ["gatedrnn", "numpy"])
    comps = meta.get("competitors") or {}
    pinning = "; ".join(THREAD_PINNING[c] for c in comps if c in THREAD_PINNING)
    lines = [
        "## gatedrnn bench",
        "",
        f"- machine: {machine_line(meta['machine'])}",
        f"- ISA: {g['selected_isa']} (available: {isas}; {env_isa})",
        f"- threads: {', '.join(map(str, s['threads']))} (gatedrnn num_threads; NumPy BLAS: {blas_line(meta['blas'])}"
        + (f"; {pinning}" if pinning else "") + ")",
        f"- versions: gatedrnn {v['gatedrnn']}, Python {v['python']}, NumPy {v['numpy']}"
        + (f", threadpoolctl {v['threadpoolctl']}" if v.get("threadpoolctl") else ""),
    ]
    for name, d in comps.items():
        vs = ", ".join(f"{k} {x}" for k, x in d["versions"].items() if k != "openvino_build")
        lines.append(f"- competitor {name}: {d['label']} ({vs}): {d['settings']}")
    if not comps:
        lines.append("- competitors: none (--competitors torch,ort,ov; pip install 'gatedrnn[bench]')")
    lines.append(
        f"- protocol: float32, zero initial state, 1 layer, GRU linear_before_reset=True; every implementation "
        f"checked against gatedrnn.reference (float64, atol {s['atol']:g}, rtol {s['rtol']:g}; batches over "
        f"{s['check_rows']} rows: {s['check_rows']} rows vs the reference, all rows vs numpy) before it is timed, "
        f"a competitor that fails is excluded from its row; "
        f"time.perf_counter per call, interleaved {'/'.join(order)} in {BURST_S * 1e3:g} ms bursts "
        f"(multi-threaded rows: {SETTLE_S * 1e3:g} ms idle before each burst) for {s['time_budget_s']:g} s per row "
        f"(min {s['min_repeats']} repeats unless one round is too slow)"
        + ("; numpy = hoisted float32 baseline" if "numpy" in order else ""))
    c = CEILINGS
    lines.append(
        "- columns: speedup = numpy median / gatedrnn median; best / gatedrnn = the fastest competitor's median / "
        "gatedrnn median (> 1: gatedrnn faster); fp32 floor = input GEMM at FMA peak + T x max(step FLOPs at peak, "
        f"W_hh bytes at the bandwidth of the cache holding each thread's slice), with the ceilings of {c['machine']}: "
        f"{c['fma_flops_per_core'] / 1e9:g} GFLOP/s and {c['l2_bytes_per_s_per_core'] / 1e9:g} GB/s L2 per core "
        "(indicative on other machines; 1 and 2 threads only)")
    for note in meta.get("notes", []):
        lines.append(f"- note: {note}")
    return "\n".join(lines)


TABLE_COLUMNS = ("cell", "kind", "B", "T", "H", "threads", "gatedrnn median ms", "gatedrnn min ms",
                 "numpy median ms", "numpy min ms", "speedup", "GFLOP/s", "repeats", "check")


def table_columns(competitors: Sequence[str] = (), precisions: Sequence[str] = ()) -> List[str]:
    """The table's columns for a run with ``competitors`` (names, in order) and reduced
    ``precisions`` (each: its median, min and time / fp32 time)."""
    cols = list(TABLE_COLUMNS[:8])
    for p in precisions:
        cols += [f"gatedrnn-{p} median ms", f"gatedrnn-{p} min ms", f"{p} / fp32"]
    cols += list(TABLE_COLUMNS[8:10])
    for c in competitors:
        cols += [f"{c} median ms", f"{c} min ms"]
    if competitors:
        cols += ["best competitor", "best / gatedrnn"]
    cols += ["speedup", "fp32 floor ms", "GFLOP/s", "repeats", "check"]
    return cols


def _check_cell(r: Dict[str, Any]) -> str:
    if r.get("error"):
        return "ERROR"
    excluded = list(r.get("excluded") or {})
    failed = [k for k, c in r["check"].items() if not c["ok"] and k not in excluded]
    parts = ["ok" if r["ok"] and not failed else "FAIL " + ",".join(failed)]
    if excluded:
        parts.append("excluded " + ",".join(excluded))
    return "; ".join(parts)


def format_table(results: Iterable[Dict[str, Any]], competitors: Optional[Sequence[str]] = None) -> str:
    """The markdown table. ``competitors``: the competitor columns (default: every
    competitor that appears in ``results``)."""
    results = list(results)
    seen = {k for r in results for k in (r.get("timings") or {})}
    if competitors is None:
        from gatedrnn._competitors import COMPETITORS

        competitors = [c for c in COMPETITORS if c in seen]
    precisions = [p for p in PRECISIONS if f"gatedrnn-{p}" in seen]
    cols = table_columns(competitors, precisions)
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---" if c in ("cell", "kind", "check", "best competitor") else "---:"
                            for c in cols) + "|"]
    for r in results:
        t = r.get("timings") or {}
        g = t.get("gatedrnn", {})
        vals: Dict[str, Any]
        vals = {"cell": r["cell"], "kind": r["kind"], "B": r["B"], "T": r["T"], "H": r["H"],
                "threads": r["threads"],
                "speedup": f"{r['speedup']:.2f}" if r.get("speedup") else "-",
                "best competitor": r.get("best_competitor") or "-",
                "best / gatedrnn": f"{r['best_ratio']:.2f}" if r.get("best_ratio") else "-",
                "fp32 floor ms": fmt_ms(float(f"{r['floor_ms']:.3g}")) if r.get("floor_ms") else "-",
                "GFLOP/s": f"{r['gflops']:.1f}" if r.get("gflops") else "-",
                "repeats": g.get("repeats", "-"), "check": _check_cell(r)}
        for p in precisions:
            vals[f"{p} / fp32"] = f"{r[p + '_ratio']:.2f}" if r.get(p + "_ratio") else "-"
        for name in ("gatedrnn", *(f"gatedrnn-{p}" for p in precisions), "numpy", *competitors):
            d = t.get(name, {})
            vals[f"{name} median ms"] = fmt_ms(d.get("median_ms"))
            vals[f"{name} min ms"] = fmt_ms(d.get("min_ms"))
        lines.append("| " + " | ".join(str(vals[c]) for c in cols) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------
# The chart.

def plot_results(results: Sequence[Dict[str, Any]], meta: Dict[str, Any], path: str) -> None:
    """A PNG bar chart: per row (cell, kind, threads), gatedrnn's speedup over NumPy and
    over the fastest competitor (median / median; > 1: gatedrnn faster), log scale,
    with a line at 1. Needs matplotlib (ImportError otherwise)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    rows = [r for r in results if not r.get("error")]
    labels = [f"{r['kind']} {r['cell']}\n{r['threads']}T" for r in rows]
    vs_numpy = [r.get("speedup") or np.nan for r in rows]
    vs_best = [r.get("best_ratio") or np.nan for r in rows]
    have_best = any(np.isfinite(vs_best))
    n = len(rows)
    fig = Figure(figsize=(max(6.0, 0.75 * n + 2.0), 5.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = np.arange(n)
    width = 0.4 if have_best else 0.6
    series: List[Tuple[npt.NDArray[Any], npt.ArrayLike, str, str, Optional[List[Optional[str]]]]] = [
        (xs - (width / 2 if have_best else 0), vs_numpy, "over NumPy", "#4c72b0", None)]
    if have_best:
        series.append((xs + width / 2, vs_best, "over the best competitor (named)", "#dd8452",
                       [r.get("best_competitor") for r in rows]))
    for x, v, label, color, names in series:
        v = np.asarray(v, dtype=float)
        # Bars grow from 1 (no difference): up when gatedrnn is faster, down when slower.
        ax.bar(x, v - 1.0, width, bottom=1.0, label=label, color=color)
        for i, (xi, vi) in enumerate(zip(x, v)):
            if np.isfinite(vi):
                text = f"{vi:.2f}" + (f"\n{names[i]}" if names else "")
                ax.annotate(text, (xi, vi), xytext=(0, 2 if vi >= 1 else -2), textcoords="offset points",
                            ha="center", va="bottom" if vi >= 1 else "top", fontsize=7)
    ax.axhline(1.0, color="black", linewidth=1.0)
    ax.set_yscale("log", base=2)
    vals = [v for v in vs_numpy + vs_best if np.isfinite(v)]
    if vals:
        lo, hi = min(vals + [1.0]), max(vals + [1.0])
        ax.set_ylim(lo / 1.3, hi * 1.35)
    ax.yaxis.set_major_locator(LogLocator(base=2, subs=(1.0, 1.5)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylabel("speedup of gatedrnn (median / median, > 1: faster)")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    v = meta["versions"]
    comps = meta.get("competitors") or {}
    comp_s = ", ".join(f"{k} {x}" for d in comps.values() for k, x in d["versions"].items()
                       if k not in ("onnx", "openvino_build"))
    threads = ",".join(map(str, meta["settings"]["threads"]))
    ax.set_title(f"gatedrnn {v['gatedrnn']} ({meta['gatedrnn']['selected_isa']}, threads {threads}) vs "
                 f"NumPy {v['numpy']}" + (f" and the best of\n{comp_s}" if comp_s else "")
                 + f"\n{machine_line(meta['machine'])}; {meta.get('created', '')}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


# ----------------------------------------------------------------------------------
# Command line.

def csv_list(choices: Optional[Sequence[str]] = None, conv: Callable[[str], Any] = str,
             what: str = "value") -> Callable[[str], List[Any]]:
    import argparse

    def parse(text: str) -> List[Any]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"empty {what} list")
        out: List[Any] = []
        for s in items:
            if choices is not None:
                match = [c for c in choices if c.lower() == s.lower()]
                if not match:
                    raise argparse.ArgumentTypeError(
                        f"unknown {what} {s!r} (choose from {','.join(choices)})")
                s = match[0]
            try:
                v = conv(s)
            except ValueError:
                raise argparse.ArgumentTypeError(f"bad {what} {s!r}") from None
            if isinstance(v, int) and v < 1:
                raise argparse.ArgumentTypeError(f"{what} must be >= 1, got {v}")
            if v not in out:
                out.append(v)
        return out

    return parse


def _positive_float(text: str) -> float:
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def competitor_list(text: str) -> Optional[List[str]]:
    """``--competitors``: 'all' (None: every installed one), 'none' ([]) or names."""
    from gatedrnn._competitors import COMPETITORS

    t = text.strip().lower()
    if t == "all":
        return None
    if t == "none":
        return []
    return csv_list(COMPETITORS, what="competitor")(text)


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """The grid options of ``python -m gatedrnn bench``."""
    p.add_argument("--cells", type=csv_list(ALL_CELLS, what="cell"), default=None,
                   help=f"comma-separated cells (default: all, {','.join(ALL_CELLS)}; "
                        f"--quick: {','.join(QUICK_CELLS)})")
    p.add_argument("--kinds", type=csv_list(KINDS, what="kind"), default=None,
                   help="comma-separated layer kinds (default: lstm,gru)")
    p.add_argument("--threads", type=csv_list(conv=int, what="thread count"), default=None,
                   help="comma-separated thread counts (default: 1; --full: 1,2)")
    preset = p.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true",
                        help=f"cells {','.join(QUICK_CELLS)}, {QUICK_BUDGET:g} s per row")
    preset.add_argument("--full", action="store_true",
                        help=f"all cells, threads 1,2, {FULL_BUDGET:g} s per row")
    p.add_argument("--time-budget", type=_positive_float, default=None, metavar="SECONDS",
                   help=f"seconds of interleaved timing per row (default {DEFAULT_BUDGET:g}); "
                        f"at least {MIN_REPEATS} repeats each unless one call is very slow")
    p.add_argument("--competitors", type=competitor_list, default=None, metavar="LIST",
                   help="comma-separated competitors timed beside gatedrnn and numpy: torch (PyTorch), "
                        "ort (ONNX Runtime), ov (OpenVINO); 'all' (default: every one installed) or 'none'")
    p.add_argument("--precision", type=csv_list(PRECISIONS, what="precision"), default=None,
                   help="comma-separated precisions of gatedrnn to time side by side (default: fp32); "
                        "bf16 and int8 add gatedrnn-bf16 / gatedrnn-int8 columns, the same weights in that precision")
    p.add_argument("--json", metavar="FILE", default=None,
                   help="also write machine, versions, ISA, settings and every timing as JSON")
    p.add_argument("--plot", metavar="FILE.png", default=None,
                   help="also draw gatedrnn's speedup over NumPy and over the best competitor per row "
                        "(needs matplotlib)")


def resolve_settings(args: argparse.Namespace) -> Dict[str, Any]:
    cells = list(ALL_CELLS)
    threads = [1]
    budget = DEFAULT_BUDGET
    if getattr(args, "quick", False):
        cells, budget = list(QUICK_CELLS), QUICK_BUDGET
    if getattr(args, "full", False):
        threads, budget = [1, 2], FULL_BUDGET
    return {"cells": args.cells or cells, "kinds": args.kinds or list(KINDS),
            "threads": args.threads or threads,
            "time_budget_s": args.time_budget if args.time_budget is not None else budget,
            "min_repeats": MIN_REPEATS, "atol": ATOL, "rtol": RTOL, "check_rows": CHECK_ROWS,
            "competitors_requested": getattr(args, "competitors", None),
            "precisions": list(dict.fromkeys(["fp32", *(getattr(args, "precision", None) or [])])),
            "impls": ["gatedrnn", "numpy"]}


def openblas_notes() -> List[str]:
    """Notes about OPENBLAS_* variables for the table header and the JSON."""
    notes = []
    done = os.environ.get(REEXEC_MARKER)
    if done:
        notes.append(f"unset {done.replace(';', ', ')} for the NumPy baseline (protocol; process re-executed)")
    still = [k for k in OPENBLAS_VARS if k in os.environ]
    if still:
        notes.append(f"{', '.join(f'{k}={os.environ[k]}' for k in still)} still set: the NumPy baseline "
                     f"may be slower than with a default OpenBLAS")
    return notes


def reexec_without_openblas_env(cmd_args: Sequence[str], *, stream: TextIO = sys.stderr) -> None:
    """Re-execute this Python process once without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE.

    ``cmd_args`` is what follows the interpreter and its flags on the new command
    line, e.g. ``["-m", "gatedrnn", "bench", "--quick"]`` or ``[script, *argv]``.
    Returns (doing nothing) when neither variable is set, or when this process is
    already the re-executed one (env marker ``GATEDRNN_BENCH_REEXEC``), or when
    exec fails; otherwise it does not return.
    """
    found = {k: os.environ[k] for k in OPENBLAS_VARS if k in os.environ}
    if not found or os.environ.get(REEXEC_MARKER) or not sys.executable:
        return
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
    env[REEXEC_MARKER] = ";".join(f"{k}={v}" for k, v in found.items())
    flags: List[str]
    try:
        flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]  # (private, stable)
    except Exception:
        flags = []
    argv = [sys.executable, *flags, *cmd_args]
    print(f"note: {', '.join(f'{k}={v}' for k, v in found.items())} set; the benchmark protocol unsets "
          f"them for the NumPy baseline: re-executing without them", file=stream, flush=True)
    sys.stdout.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError as e:
        print(f"note: re-exec failed ({e}); continuing with them set", file=stream, flush=True)


def collect_meta(settings: Dict[str, Any], argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    notes = openblas_notes()
    if _threadpoolctl() is None:
        notes.append("threadpoolctl not installed: NumPy's BLAS threads are not pinned "
                     "(pip install threadpoolctl, or set OPENBLAS_NUM_THREADS)")
    for n in settings["threads"]:
        if n > (os.cpu_count() or 1):
            notes.append(f"threads={n} exceeds the {os.cpu_count()} logical CPUs")
    return {"schema": "gatedrnn-bench/1",
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": list(argv) if argv is not None else None,
            "machine": machine_info(), "versions": versions_info(), "gatedrnn": gatedrnn_info(),
            "blas": blas_info(), "settings": {**settings, "max_cell_time_s": max_cell_time(settings["time_budget_s"])},
            "notes": notes}


def write_json(path: str, doc: Dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")


def run(args: argparse.Namespace, argv: Optional[Sequence[str]] = None, *, out: Optional[TextIO] = None,
        progress: Optional[TextIO] = None) -> int:
    """``python -m gatedrnn bench``: run the grid, print the table, write the JSON and
    the chart. Returns the exit status: 0 when gatedrnn's and numpy's checks all
    passed, 1 otherwise (a competitor failing its check is reported and excluded, not
    a failure), 2 when --plot is asked for without matplotlib, 130 on Ctrl-C."""
    from gatedrnn import _competitors

    out = sys.stdout if out is None else out          # looked up now: tests replace them
    progress = sys.stderr if progress is None else progress
    plot = getattr(args, "plot", None)
    if plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("error: --plot needs matplotlib: pip install matplotlib (or pip install 'gatedrnn[bench]')",
                  file=progress, flush=True)
            return 2
    settings = resolve_settings(args)
    requested = settings["competitors_requested"]
    competitors, comp_notes = _competitors.load(requested, explicit=requested is not None)
    settings["competitors"] = list(competitors)
    settings["impls"] = ["gatedrnn", *(f"gatedrnn-{p}" for p in settings["precisions"] if p != "fp32"), "numpy",
                         *competitors]
    meta = collect_meta(settings, argv)
    meta["competitors"] = {name: a.describe() for name, a in competitors.items()}
    meta["ceilings"] = CEILINGS
    meta["notes"] = comp_notes + meta["notes"]
    for note in comp_notes:
        print(f"note: {note}", file=progress, flush=True)
    print(format_header(meta), file=out)
    print(file=out, flush=True)
    results: List[Dict[str, Any]] = []
    interrupted = False
    try:
        run_grid(settings["cells"], settings["kinds"], settings["threads"], settings["time_budget_s"],
                 progress=progress, results=results, competitors=competitors, precisions=settings["precisions"])
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: the table holds the rows finished so far", file=progress, flush=True)
    print(format_table(results, list(competitors)), file=out, flush=True)
    ok = bool(results) and all(r["ok"] for r in results) and not interrupted
    failed = [f"{r['kind']} {r['cell']} threads={r['threads']}" for r in results if not r["ok"]]
    if failed:
        print(f"\nFAIL: {len(failed)} row(s) failed their check or raised: {'; '.join(failed)}", file=out)
    excluded = [f"{c} from {r['kind']} {r['cell']} threads={r['threads']} ({err})"
                for r in results for c, err in (r.get("excluded") or {}).items()]
    if excluded:
        print(f"\nexcluded {len(excluded)} competitor timing(s) that failed their check or raised: "
              + "; ".join(excluded), file=out)
    if args.json:
        write_json(args.json, {**meta, "results": results, "ok": ok, "interrupted": interrupted})
        print(f"wrote {args.json}", file=progress)
    if plot and results:
        plot_results(results, meta, plot)
        print(f"wrote {plot}", file=progress)
    if interrupted:
        return 130
    return 0 if ok else 1
