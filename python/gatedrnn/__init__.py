"""gatedrnn: fast LSTM and GRU inference on the CPU.

Fused SIMD kernels (AVX-512, AVX2+FMA, portable scalar) chosen at run time from the CPU,
PyTorch's semantics and parameter names, and a float64 NumPy reference
(:mod:`gatedrnn.reference`) that every kernel is tested against.

    >>> import gatedrnn, numpy as np
    >>> lstm = gatedrnn.LSTM(input_size=16, hidden_size=32, seed=0)
    >>> y, (h_n, c_n) = lstm(np.random.rand(10, 4, 16).astype(np.float32))
"""

from __future__ import annotations

from typing import Dict, List

from . import _core, onnx, reference
from ._importers import from_torch
from ._io import load
from ._keras import from_keras
from ._onnx_import import from_onnx
from ._layers import GRU, LSTM, GRUCell, LSTMCell
from ._stream import Stream
from ._threads import get_num_threads, set_num_threads

__version__: str = _core.__version__

__all__ = [
    "LSTM",
    "GRU",
    "LSTMCell",
    "GRUCell",
    "Stream",
    "from_torch",
    "from_onnx",
    "from_keras",
    "load",
    "onnx",
    "reference",
    "available_isas",
    "selected_isa",
    "set_isa",
    "cpu_features",
    "set_num_threads",
    "get_num_threads",
    "__version__",
]


def available_isas() -> List[str]:
    """ISAs whose kernels are built in and supported by this CPU, best first.

    Returns:
        A subset of ``["avx512", "avx2", "scalar"]`` (avx512: AVX-512 F/CD/BW/DQ/VL;
        avx2: AVX2 + FMA; scalar: any CPU, always present).

    Example::

        >>> isas = gatedrnn.available_isas()
        >>> isas[-1]
        'scalar'
    """
    return list(_core.available_isas())


def selected_isa() -> str:
    """The ISA whose kernels run: the last :func:`set_isa`, else ``GATEDRNN_ISA`` if set,
    else the best of :func:`available_isas`.

    Returns:
        "avx512", "avx2" or "scalar".

    Raises:
        ValueError: ``GATEDRNN_ISA`` names an unknown ISA or one this CPU lacks.

    Example::

        >>> gatedrnn.selected_isa() in gatedrnn.available_isas()
        True
    """
    return str(_core.selected_isa())


def set_isa(name: str) -> None:
    """Use the kernels of ``name`` from now on, in this process (every layer).

    Args:
        name: one of :func:`available_isas` ("avx512", "avx2", "scalar").

    Raises:
        ValueError: an unknown ISA or one this CPU lacks.
        TypeError: ``name`` is not a str.

    Example::

        >>> previous = gatedrnn.selected_isa()
        >>> gatedrnn.set_isa("scalar")              # the portable kernels
        >>> gatedrnn.selected_isa()
        'scalar'
        >>> gatedrnn.set_isa(previous)
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {type(name).__name__}")
    _core.set_isa(name)


def cpu_features() -> Dict[str, bool]:
    """CPU features detected with cpuid and xgetbv, as ``{name: bool}``.

    Returns:
        ``{name: bool}`` for sse2, avx, fma, f16c, avx2, avx512f, avx512cd, avx512bw,
        avx512dq, avx512vl, avx512_bf16, avx512_vnni, and os_avx / os_avx512 (the OS
        saves those registers). All False on CPUs other than x86-64.

    Example::

        >>> features = gatedrnn.cpu_features()
        >>> sorted(features)[:4]
        ['avx', 'avx2', 'avx512_bf16', 'avx512_vnni']
        >>> type(features["avx2"])
        <class 'bool'>
    """
    return dict(_core.cpu_features())
