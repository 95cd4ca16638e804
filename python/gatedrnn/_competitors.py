"""Other libraries' LSTM/GRU, for ``python -m gatedrnn bench``.

Each adapter builds, from a gatedrnn model's ``state_dict()`` (PyTorch's names, shapes
and gate orders), a zero-argument callable that runs the same layer on the benchmark
input and returns ``(y, (h_n, c_n))`` (LSTM) or ``(y, h_n)`` (GRU), with the thread
count pinned as shared/BENCHMARKS.md's protocol asks:

  torch  torch.nn.LSTM / torch.nn.GRU with the weights copied in; torch.set_num_threads(n),
         torch.set_num_interop_threads(1); calls inside torch.inference_mode()
  ort    ONNX Runtime on a one-node ONNX LSTM / GRU model built with onnx.helper
         (opset 14, GRU linear_before_reset=1, gates reordered from PyTorch's i,f,g,o /
         r,z,n to ONNX's i,o,f,c / z,r,h); intra_op_num_threads=n, inter_op_num_threads=1,
         sequential execution, all graph optimisations
  ov     OpenVINO on the same ONNX model (Core.read_model from memory, compile_model on
         CPU) with INFERENCE_NUM_THREADS=n, PERFORMANCE_HINT=LATENCY, NUM_STREAMS=1 and
         fp32 forced: INFERENCE_PRECISION_HINT=f32 (no bf16/fp16 inference) and
         DYNAMIC_QUANTIZATION_GROUP_SIZE=0 (no dynamic int8 quantization)

Nothing here imports a competitor library at module import: :func:`load` imports the
ones asked for and reports those missing or broken.
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import (TYPE_CHECKING, Any, Callable, ContextManager, Dict, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import onnx

# A model's parameters under PyTorch's names (``state_dict()``).
StateDict = Mapping[str, npt.ArrayLike]
# What a layer call returns: LSTM (y, (h_n, c_n)), GRU (y, h_n).
LayerOutputs = Union[Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]], Tuple[np.ndarray, np.ndarray]]

__all__ = ["COMPETITORS", "LABELS", "Competitor", "TorchCompetitor", "OrtCompetitor",
           "OvCompetitor", "installed", "load", "onnx_model", "ONNX_GATE_PERM"]

COMPETITORS: Tuple[str, ...] = ("torch", "ort", "ov")
LABELS = {"torch": "PyTorch", "ort": "ONNX Runtime", "ov": "OpenVINO"}
# The top-level modules each competitor needs (what "installed" means).
REQUIRES = {"torch": ("torch",), "ort": ("onnx", "onnxruntime"), "ov": ("onnx", "openvino")}

# PyTorch gate order -> ONNX gate order (blocks of H rows).
ONNX_GATE_PERM = {"lstm": (0, 3, 1, 2),   # i,f,g,o -> i,o,f,c
                  "gru": (1, 0, 2)}       # r,z,n   -> z,r,h

Built = Tuple[Callable[[], object], Dict[str, Any]]  # (the call, the settings it actually runs with)


def installed(name: str) -> bool:
    """Whether the modules competitor ``name`` needs are installed (without importing them)."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in REQUIRES[name])
    except (ImportError, ValueError):
        return False


class Competitor:
    """One competitor library. ``build`` makes one row's callable; ``context(n)`` is
    entered around that row's check and timing (process-wide settings, e.g. torch's
    thread count, restored on exit)."""

    name = ""
    settings = ""  # how threads and precision are pinned, for the table header

    def versions(self) -> Dict[str, str]:
        raise NotImplementedError

    def build(self, kind: str, state_dict: StateDict, x: npt.NDArray[np.float32], threads: int) -> Built:
        raise NotImplementedError

    def context(self, threads: int) -> ContextManager[None]:
        return contextlib.nullcontext()

    def describe(self) -> Dict[str, Any]:
        return {"label": LABELS[self.name], "versions": self.versions(), "settings": self.settings}


def _f32(a: npt.ArrayLike) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(np.asarray(a), dtype=np.float32)


def _hidden_size(state_dict: StateDict) -> int:
    return int(np.asarray(state_dict["weight_hh_l0"]).shape[1])


# ----------------------------------------------------------------------------------
# PyTorch

class TorchCompetitor(Competitor):
    name = "torch"
    settings = ("torch.nn.LSTM/GRU, torch.set_num_threads(n), set_num_interop_threads(1), "
                "inference_mode")

    def __init__(self) -> None:
        import torch

        self.torch = torch
        try:  # only possible before any inter-op parallel work in this process
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass

    def versions(self) -> Dict[str, str]:
        return {"torch": self.torch.__version__}

    def build(self, kind: str, state_dict: StateDict, x: npt.NDArray[np.float32], threads: int) -> Built:
        torch = self.torch
        _, _, I = x.shape
        H = _hidden_size(state_dict)
        mod = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(I, H)
        with torch.no_grad():
            params = dict(mod.named_parameters())
            if set(params) != set(state_dict):
                raise ValueError(f"parameter names differ: torch {sorted(params)}, gatedrnn {sorted(state_dict)}")
            for name, value in state_dict.items():
                params[name].copy_(torch.from_numpy(_f32(value)))
        mod.eval()
        mod.requires_grad_(False)
        xt = torch.from_numpy(x)
        info = {"num_threads": threads, "num_interop_threads": torch.get_num_interop_threads()}
        return (lambda: mod(xt)), info

    @contextlib.contextmanager
    def context(self, threads: int) -> Iterator[None]:
        torch = self.torch
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                yield
        finally:
            torch.set_num_threads(before)


# ----------------------------------------------------------------------------------
# ONNX model (for ORT and OpenVINO)

def onnx_model(kind: str, state_dict: StateDict, T: int, B: int, I: int) -> Tuple[onnx.ModelProto, List[str]]:
    """A checked ONNX ModelProto with one LSTM / GRU node (PyTorch's semantics: GRU
    linear_before_reset=1) holding the weights of ``state_dict``, input X of the fixed
    shape (T, B, I). Returns (model, output names)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from gatedrnn.bench import GATES

    G = GATES[kind]
    perm = ONNX_GATE_PERM[kind]

    def reorder(a: npt.ArrayLike) -> npt.NDArray[np.float32]:
        blocks = np.split(_f32(a), G, axis=0)
        return np.concatenate([blocks[p] for p in perm], axis=0)

    w = reorder(state_dict["weight_ih_l0"])[None]                 # (1, G*H, I)
    r = reorder(state_dict["weight_hh_l0"])[None]                 # (1, G*H, H)
    H = r.shape[2]
    inputs = ["X", "W", "R"]
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R")]
    if "bias_ih_l0" in state_dict:
        b = np.concatenate([reorder(state_dict["bias_ih_l0"]), reorder(state_dict["bias_hh_l0"])])[None]
        inputs.append("B")                                         # (1, 2*G*H): [Wb, Rb]
        inits.append(numpy_helper.from_array(b, "B"))
    outputs = ["Y", "Y_h"] + (["Y_c"] if kind == "lstm" else [])
    attrs = {"hidden_size": H}
    if kind == "gru":
        attrs["linear_before_reset"] = 1
    node = helper.make_node(kind.upper(), inputs, outputs, **attrs)
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [node], f"{kind}_T{T}_B{B}_I{I}_H{H}",
        [helper.make_tensor_value_info("X", f, [T, B, I])],
        [helper.make_tensor_value_info("Y", f, [T, 1, B, H])]
        + [helper.make_tensor_value_info(n, f, [1, B, H]) for n in outputs[1:]],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                              producer_name="gatedrnn-bench")
    model.ir_version = 8  # old enough for any recent onnxruntime / openvino
    onnx.checker.check_model(model)
    return model, outputs


def _pack(kind: str, out: Sequence[np.ndarray]) -> LayerOutputs:
    y = out[0][:, 0]  # (T, 1, B, H) -> (T, B, H), a view
    return (y, (out[1], out[2])) if kind == "lstm" else (y, out[1])


# ----------------------------------------------------------------------------------
# ONNX Runtime

class OrtCompetitor(Competitor):
    name = "ort"
    settings = ("one ONNX LSTM/GRU node, intra_op_num_threads=n, inter_op_num_threads=1, "
                "sequential, ORT_ENABLE_ALL")

    def __init__(self) -> None:
        import onnx
        import onnxruntime

        self.onnx, self.ort = onnx, onnxruntime

    def versions(self) -> Dict[str, str]:
        return {"onnxruntime": self.ort.__version__, "onnx": self.onnx.__version__}

    def build(self, kind: str, state_dict: StateDict, x: npt.NDArray[np.float32], threads: int) -> Built:
        ort = self.ort
        T, B, I = x.shape
        model, outputs = onnx_model(kind, state_dict, T, B, I)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        feed = {"X": x}
        info = {"intra_op_num_threads": so.intra_op_num_threads, "inter_op_num_threads": so.inter_op_num_threads,
                "providers": sess.get_providers()}
        return (lambda: _pack(kind, sess.run(outputs, feed))), info


# ----------------------------------------------------------------------------------
# OpenVINO

class OvCompetitor(Competitor):
    name = "ov"
    settings = ("the same ONNX model, CPU, INFERENCE_NUM_THREADS=n, PERFORMANCE_HINT=LATENCY, "
                "NUM_STREAMS=1, INFERENCE_PRECISION_HINT=f32, DYNAMIC_QUANTIZATION_GROUP_SIZE=0")
    CONFIG = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32",
              "DYNAMIC_QUANTIZATION_GROUP_SIZE": 0}

    def __init__(self) -> None:
        import onnx
        import openvino

        self.onnx, self.ov = onnx, openvino
        self.core = openvino.Core()
        self.supported = set(self.core.get_property("CPU", "SUPPORTED_PROPERTIES"))

    def versions(self) -> Dict[str, str]:
        from importlib.metadata import version

        try:
            v = version("openvino")
        except Exception:
            v = self.ov.__version__
        return {"openvino": v, "openvino_build": self.ov.get_version(), "onnx": self.onnx.__version__}

    def build(self, kind: str, state_dict: StateDict, x: npt.NDArray[np.float32], threads: int) -> Built:
        T, B, I = x.shape
        model, _ = onnx_model(kind, state_dict, T, B, I)
        ov_model = self.core.read_model(model=model.SerializeToString())
        config = {"INFERENCE_NUM_THREADS": threads, **self.CONFIG}
        missing = [k for k in ("INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT") if k not in self.supported]
        if missing:  # without these the protocol (pinned threads, fp32) cannot be kept
            raise RuntimeError(f"this OpenVINO CPU plugin lacks {', '.join(missing)}")
        config = {k: v for k, v in config.items() if k in self.supported}
        compiled = self.core.compile_model(ov_model, "CPU", config)
        info: Dict[str, str] = {}
        for k in config:
            try:
                v = compiled.get_property(k)
                info[k] = v.to_string() if hasattr(v, "to_string") else str(v)  # ov.Type -> 'f32'
            except Exception as e:  # pragma: no cover - informative only
                info[k] = f"unreadable ({e})"
        if int(compiled.get_property("INFERENCE_NUM_THREADS")) != threads:
            raise RuntimeError(f"OpenVINO runs {info['INFERENCE_NUM_THREADS']} threads, asked for {threads}")
        if info.get("INFERENCE_PRECISION_HINT", "f32") not in ("f32", "float32"):
            raise RuntimeError(f"OpenVINO inference precision is {info['INFERENCE_PRECISION_HINT']}, not f32")
        req = compiled.create_infer_request()
        feed = {0: x}

        def call() -> LayerOutputs:
            out = req.infer(feed, share_inputs=True, share_outputs=False)
            return _pack(kind, out.to_tuple())

        return call, info


# ----------------------------------------------------------------------------------

_CLASSES: Dict[str, Callable[[], Competitor]] = {"torch": TorchCompetitor, "ort": OrtCompetitor, "ov": OvCompetitor}


def load(names: Optional[Sequence[str]] = None, *, explicit: bool = False) -> Tuple[Dict[str, Competitor], List[str]]:
    """Instantiate the competitors ``names`` (None: every one installed), in the order
    of COMPETITORS. Returns ({name: adapter}, notes): a competitor not installed, or
    whose import or setup fails, is left out with a note (``explicit``: the user asked
    for it by name, so a missing one is worth a note)."""
    wanted = list(COMPETITORS) if names is None else [n for n in COMPETITORS if n in names]
    have: Dict[str, Competitor] = {}
    notes: List[str] = []
    for name in wanted:
        if not installed(name):
            if explicit:
                notes.append(f"{name} ({LABELS[name]}) skipped: not installed "
                             f"(needs {' and '.join(REQUIRES[name])}; pip install 'gatedrnn[bench]')")
            continue
        try:
            have[name] = _CLASSES[name]()
        except Exception as e:
            notes.append(f"{name} ({LABELS[name]}) skipped: {type(e).__name__}: {e}")
    return have, notes
