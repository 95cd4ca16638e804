"""Type stubs of gatedrnn's compiled core (``cpp/bindings/module.cpp``).

The module is private: the Python layers (``gatedrnn.LSTM``, ...) validate their arguments
and call it. Array arguments typed ``ArrayLike`` are converted to C-contiguous float32
(int64 for ``lengths``) by NumPy, a copy unless they already are; errors from the core are
ValueError (C++ ``std::invalid_argument``).
"""

from typing import Sequence, SupportsIndex, TypedDict, type_check_only

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeAlias

__version__: str
# True only in a testing build whose avx512 kernels run over emulated intrinsics.
emulated_avx512: bool

_F32: TypeAlias = npt.NDArray[np.float32]

# (kind, alpha, beta): ``kind`` is the core's ActKind number (gatedrnn._activations).
_ActivationSlot: TypeAlias = tuple[int, float, float]

# One direction of one layer, PyTorch's layouts: (weight_ih, weight_hh, bias_ih, bias_hh,
# weight_hr, peephole); None for a parameter the configuration does not have.
_DirectionWeights: TypeAlias = tuple[
    npt.ArrayLike,
    npt.ArrayLike,
    npt.ArrayLike | None,
    npt.ArrayLike | None,
    npt.ArrayLike | None,
    npt.ArrayLike | None,
]

@type_check_only
class _NetworkOptions(TypedDict, total=False):
    """The ONNX options and the precision, as ``Network(..., options=)`` takes them."""

    reverse: bool
    clip: float
    input_forget: bool
    peepholes: bool
    precision: str  # "fp32", "bf16" or "int8"
    # One entry per direction, each 3 slots (f, g, h).
    activations: Sequence[Sequence[_ActivationSlot]]

def cpu_features() -> dict[str, bool]:
    """CPU features detected by cpuid/xgetbv, as {name: bool}."""

def set_default_threads(n: SupportsIndex) -> None:
    """The thread count of calls made with ``num_threads=0`` (n >= 1;
    ``gatedrnn.set_num_threads`` sets it)."""

def compiled_isas() -> list[str]:
    """ISAs built into this module, best first."""

def available_isas() -> list[str]:
    """ISAs built and supported by this CPU, best first."""

def selected_isa() -> str:
    """The ISA whose kernels run (GATEDRNN_ISA or the best available)."""

def set_isa(name: str) -> None:
    """Select the kernels of an available ISA."""

def sigmoid(x: npt.ArrayLike) -> _F32:
    """Elementwise sigmoid with the selected ISA's kernel (float32)."""

def tanh(x: npt.ArrayLike) -> _F32:
    """Elementwise tanh with the selected ISA's kernel (float32)."""

def to_bf16(x: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    """x (float32, flattened) rounded to bfloat16 bits (uint16) by the selected ISA's kernel."""

def bf16_method() -> str:
    """How the selected kernels multiply bf16: 'vdpbf16ps' or 'widened to fp32'."""

def int8_method() -> str:
    """How the selected kernels multiply int8."""

def quantize_u8(x: npt.ArrayLike) -> tuple[npt.NDArray[np.uint8], float]:
    """x (float32, flattened) quantised as int8 operands are: (u8 = round(x / s) + 128, s)."""

# pybind11 classes are made by pybind11_builtins.pybind11_type, a subclass of type.
@type_check_only
class _Pybind11Type(type): ...

class Network(metaclass=_Pybind11Type):
    """A packed stack of LSTM or GRU layers (see gatedrnn.LSTM / GRU)."""

    def __init__(
        self,
        kind: str,
        input_size: SupportsIndex,
        hidden_size: SupportsIndex,
        num_layers: SupportsIndex,
        bidirectional: bool,
        proj_size: SupportsIndex,
        linear_before_reset: bool,
        weights: list[_DirectionWeights],
        options: _NetworkOptions = ...,
    ) -> None:
        """``kind`` "lstm" or "gru"; ``weights`` num_layers * directions entries, layer by
        layer, forward first."""

    def forward(
        self,
        x: npt.ArrayLike,
        h0: npt.ArrayLike | None = None,
        c0: npt.ArrayLike | None = None,
        lengths: npt.ArrayLike | None = None,
        batch_first: bool = False,
        num_threads: SupportsIndex = 1,
    ) -> tuple[_F32, _F32, _F32 | None]:
        """Run the stack: x (T, B, I) (or (B, T, I)); returns (y, h_n, c_n or None).
        ``num_threads`` 0: the default (:func:`set_default_threads`), here and below."""

    def call(
        self,
        x: object,
        state: object,
        batch_first: bool,
        num_threads: SupportsIndex,
        /,
    ) -> tuple[_F32, tuple[_F32, _F32]] | tuple[_F32, _F32] | None:
        """A layer's call where nothing needs converting: x a 3-D float32 ndarray, state
        None or (LSTM) a tuple (h0, c0) / (GRU) h0, each None or a float32 ndarray.
        Returns (y, (h_n, c_n)) or (y, h_n); None for any other arguments (the caller
        converts them)."""

    def step(
        self,
        x: npt.ArrayLike,
        h0: npt.ArrayLike | None = None,
        c0: npt.ArrayLike | None = None,
        num_threads: SupportsIndex = 1,
    ) -> tuple[_F32, _F32 | None]:
        """One step of a one-layer network (cells): x (B, I); returns (h, c or None)."""

    def cell(
        self,
        x: object,
        state: object,
        num_threads: SupportsIndex,
        /,
    ) -> tuple[_F32, _F32] | _F32 | None:
        """A cell's step where nothing needs converting: x a 2-D float32 ndarray, state
        None or (LSTM) a tuple (h, c) / (GRU) h, each None or a float32 ndarray. Returns
        (h, c) or h; None for any other arguments (the caller converts them)."""

    def advance(
        self,
        x: npt.ArrayLike,
        h: _F32,
        c: _F32 | None,
        batch_first: bool,
        num_threads: SupportsIndex,
        /,
    ) -> _F32:
        """Streaming: run x from the states h (and c), float32 C-contiguous arrays
        (num_layers, B, .) updated in place; returns y."""
