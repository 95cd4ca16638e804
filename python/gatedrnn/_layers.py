"""The layers and cells: thin Python objects over the compiled ``_core.Network``.

Python validates every argument (clear ``ValueError``/``TypeError`` messages that name the
argument and show the expected and received shapes), converts arrays to float32 (without a
copy when they already are float32 and C-contiguous), and hands the call to C++, which runs
the layers, directions and time loop with the GIL released.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _activations, _core
from ._threads import get_num_threads

if TYPE_CHECKING:
    from ._stream import Stream

__all__ = ["LSTM", "GRU", "LSTMCell", "GRUCell"]

_REAL_KINDS = "fiu"  # float, signed and unsigned integer dtypes are converted to float32
_F32 = np.dtype(np.float32)


# Set while an importer builds a layer whose weights it loads next: the constructor then
# skips the random init and the packing (load_state_dict packs once).
_weights_follow: ContextVar[bool] = ContextVar("gatedrnn_weights_follow", default=False)


@contextlib.contextmanager
def weights_follow():
    """Layers constructed inside get zero parameters and no packed network until the
    caller's ``load_state_dict`` (importers, ``load``, ``gatedrnn.onnx``): half the work."""
    token = _weights_follow.set(True)
    try:
        yield
    finally:
        _weights_follow.reset(token)


def _ready(a: Any) -> bool:
    """None, or a float32 ndarray: passed to the core as it is (which checks the shape, and
    copies one that is not C-contiguous and aligned), skipping the general path."""
    return a is None or (type(a) is np.ndarray and a.dtype is _F32)


def _shape(s: Sequence[Any]) -> str:
    return "(" + ", ".join(str(v) for v in s) + ("," if len(s) == 1 else "") + ")"


def _as_float32(value: Any, name: str) -> np.ndarray:
    """float32, C-contiguous, aligned view of ``value``; copies only when the dtype or layout
    differs. Values beyond float32's range become +-inf (IEEE rounding, no warning), as in
    ``torch.Tensor.float()``."""
    try:
        arr = np.asarray(value)
    except MemoryError:
        raise
    except Exception as exc:  # e.g. ragged nested lists, an __array__ that raises
        raise TypeError(f"{name}: expected a real numeric array, could not convert {type(value).__name__}: {exc}") from None
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name}: expected a real numeric array (float or int), got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4:  # float64, longdouble: may overflow float32
        with np.errstate(over="ignore"):  # (about 1.5 us: only where it can matter)
            out = np.asarray(arr, dtype=np.float32, order="C")
    else:
        out = np.asarray(arr, dtype=np.float32, order="C")
    # The core reads through float pointers: a misaligned buffer (a view at an odd byte
    # offset into another buffer) is copied.
    return out if out.flags.aligned else out.copy()


_INT32_MAX = 2**31 - 1  # the core holds sizes in C ints
_PER_ARRAY_BYTES = 512  # Python and C++ bookkeeping per parameter array, roughly


def _physical_memory() -> Optional[int]:
    """Bytes of RAM in this machine, or None where the OS does not say."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def _as_lengths(lengths: Any, batch: int, steps: int) -> np.ndarray:
    try:
        arr = np.asarray(lengths)
    except MemoryError:
        raise
    except Exception as exc:  # e.g. ragged nested lists
        raise TypeError(f"lengths: expected integers, could not convert {type(lengths).__name__}: {exc}") from None
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)  # NumPy makes [] (the lengths of an empty batch) float64
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"lengths: expected shape {_shape((batch,))} (one per sequence), got {_shape(arr.shape)}")
    if batch and (arr.min() < 0 or arr.max() > steps):
        bad = arr[(arr < 0) | (arr > steps)][0]
        raise ValueError(f"lengths: expected values in [0, {steps}] (T = {steps}), got {bad}")
    out = np.asarray(arr, dtype=np.int64, order="C")
    return out if out.flags.aligned else out.copy()


PRECISIONS = ("fp32", "bf16", "int8")


def _check_precision(precision: Any) -> str:
    if not isinstance(precision, str):
        raise TypeError(f"precision: expected one of {', '.join(map(repr, PRECISIONS))}, got {type(precision).__name__}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")
    return precision


class _Recurrent:
    """Shared machinery: parameters under PyTorch's names, packing, validation, the call."""

    _kind = ""  # "lstm" or "gru"
    _gates = 0
    _cell = False  # cells name their parameters without the _l0 suffix

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        bidirectional: bool,
        proj_size: int,
        linear_before_reset: bool,
        seed: Optional[int],
        num_threads: Optional[int],
        reverse: bool = False,
        peepholes: bool = False,
        input_forget: bool = False,
        clip: Optional[float] = None,
        activations: Optional[Sequence[str]] = None,
        activation_alpha: Optional[Sequence[float]] = None,
        activation_beta: Optional[Sequence[float]] = None,
        precision: str = "fp32",
    ) -> None:
        self.input_size = _check_int(input_size, "input_size", 1)
        self.hidden_size = _check_int(hidden_size, "hidden_size", 1)
        self.num_layers = _check_int(num_layers, "num_layers", 1)
        self.proj_size = _check_int(proj_size, "proj_size", 0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size: expected 0 <= proj_size < hidden_size = {self.hidden_size}, got {self.proj_size}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.linear_before_reset = bool(linear_before_reset)
        self.num_threads = None if num_threads is None else _check_int(num_threads, "num_threads", 1)
        self.precision = _check_precision(precision)
        self._set_options(reverse, peepholes, input_forget, clip, activations, activation_alpha, activation_beta)
        self._check_capacity()
        if _weights_follow.get():
            self._params = {name: np.zeros(shape, np.float32) for name, shape in self._param_shapes().items()}
            return  # load_state_dict builds the network
        # PyTorch's default init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in its name order.
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.hidden_size)
        self._params: Dict[str, np.ndarray] = {
            name: rng.uniform(-k, k, size=shape).astype(np.float32) for name, shape in self._param_shapes().items()
        }
        self._build()

    def _set_options(self, reverse: Any, peepholes: Any, input_forget: Any, clip: Any, activations: Any,
                     activation_alpha: Any, activation_beta: Any) -> None:
        """The ONNX operators' options, validated; ``self._options`` is what the core takes."""
        self.reverse = bool(reverse)
        if self.reverse and self.bidirectional:
            raise ValueError("reverse: a bidirectional layer already runs both ways; reverse=True needs bidirectional=False")
        self.peepholes = bool(peepholes)
        self.input_forget = bool(input_forget)
        if self._kind == "gru" and (self.peepholes or self.input_forget):
            raise ValueError("peepholes / input_forget: LSTM options, not a GRU's")
        if self.peepholes and self.proj_size:
            raise ValueError("peepholes: not supported together with proj_size > 0")
        if clip is not None:
            if isinstance(clip, bool) or not isinstance(clip, (int, float, np.integer, np.floating)):
                raise TypeError(f"clip: expected a float > 0 or None, got {type(clip).__name__}")
            clip = float(clip)
            if not (0.0 < clip < float("inf")):
                raise ValueError(f"clip: expected a finite value > 0 (or None for no clipping), got {clip}")
        self.clip = clip
        per_direction = 3 if self._kind == "lstm" else 2
        table = _activations.slots(activations, activation_alpha, activation_beta, per_direction, self._directions)
        self.activations = None if activations is None else [_activations.canonical(a, "activations") for a in activations]
        self.activation_alpha = None if activation_alpha is None else [float(a) for a in activation_alpha]
        self.activation_beta = None if activation_beta is None else [float(b) for b in activation_beta]
        options: Dict[str, Any] = {}
        if self.reverse:
            options["reverse"] = True
        if self.peepholes:
            options["peepholes"] = True
        if self.input_forget:
            options["input_forget"] = True
        if clip is not None:
            options["clip"] = clip
        if table is not None:
            options["activations"] = table
        if self.precision != "fp32":
            options["precision"] = self.precision
        self._options = options

    def _init_args(self) -> Dict[str, Any]:
        """Keyword arguments that rebuild this configuration with ``type(self)(**args)``
        (JSON-serialisable; the weights come separately, from :meth:`state_dict`)."""
        args: Dict[str, Any] = {"input_size": self.input_size, "hidden_size": self.hidden_size, "bias": self.bias,
                                "precision": self.precision}
        if self._kind == "gru":
            args["linear_before_reset"] = self.linear_before_reset
        if self._cell:
            return args
        args.update(num_layers=self.num_layers, batch_first=self.batch_first, bidirectional=self.bidirectional,
                    num_threads=self.num_threads, reverse=self.reverse, clip=self.clip,
                    activations=self.activations, activation_alpha=self.activation_alpha,
                    activation_beta=self.activation_beta)
        if self._kind == "lstm":
            args.update(proj_size=self.proj_size, peepholes=self.peepholes, input_forget=self.input_forget)
        return args

    def _check_capacity(self) -> None:
        """Sizes the core cannot index raise ValueError, and a model whose parameters cannot
        fit in this machine's memory raises MemoryError, before anything is allocated (the
        allocations would otherwise fail part-way, or succeed on an overcommitting OS and
        get the process killed when the weights are written)."""
        G, H, P, I = self._gates, self.hidden_size, self.proj_size, self.input_size
        L, D = self.num_layers, self._directions
        Hout = P or H
        kind = type(self).__name__
        if I > _INT32_MAX:
            raise ValueError(f"input_size: expected at most {_INT32_MAX}, got {I}")
        max_hidden = _INT32_MAX // G // 16 * 16  # gates * hidden_size, padded to whole blocks, in a C int
        if H > max_hidden:
            raise ValueError(f"hidden_size: expected at most {max_hidden} for {kind} ({G} gates), got {H}")
        if L * D > _INT32_MAX:
            raise ValueError(f"num_layers: expected at most {_INT32_MAX // D}, got {L}")
        if self.num_threads is not None and self.num_threads > _INT32_MAX:
            raise ValueError(f"num_threads: expected at most {_INT32_MAX}, got {self.num_threads}")
        # Bytes needed (exact integer arithmetic; no per-layer loop, num_layers may be huge):
        # the float32 parameters, the float64 draw of the largest one (init), the packed
        # panels (hidden units padded to blocks of 16) and per-array bookkeeping.
        nb_h, nb_p = -(-H // 16) * 16, -(-P // 16) * 16
        inner = (L - 1) * D * Hout  # inputs of the layers after the first
        params = D * (G * H * (I + inner) + L * (G * H * Hout + (2 * G * H if self.bias else 0) + P * H))
        largest = max(G * H * I, G * H * Hout, P * H, G * H * D * Hout if L > 1 else 0)
        packed = D * (nb_h * G * (I + inner + L * Hout) + L * (2 * nb_h * G + nb_p * H))
        need = 4 * params + 8 * largest + 4 * packed + _PER_ARRAY_BYTES * 5 * L * D
        memory = _physical_memory()
        if memory is not None and need > memory:
            layers = "" if self._cell else f", num_layers={L}"
            raise MemoryError(
                f"{kind}(input_size={I}, hidden_size={H}{layers}): the parameters need about "
                f"{need / 2**30:,.1f} GiB (float32 copies and packed weights), more than this machine's "
                f"{memory / 2**30:,.1f} GiB of memory")

    # -- parameters ---------------------------------------------------------------------
    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _out_size(self) -> int:
        return self.proj_size or self.hidden_size

    def _suffix(self, layer: int, d: int) -> str:
        return "" if self._cell else f"_l{layer}" + ("_reverse" if d else "")

    def _param_shapes(self) -> Dict[str, Tuple[int, ...]]:
        """PyTorch's parameter names and shapes, in PyTorch's order."""
        gh = self._gates * self.hidden_size
        shapes: Dict[str, Tuple[int, ...]] = {}
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self._directions * self._out_size
            for d in range(self._directions):
                s = self._suffix(layer, d)
                shapes["weight_ih" + s] = (gh, in_size)
                shapes["weight_hh" + s] = (gh, self._out_size)
                if self.bias:
                    shapes["bias_ih" + s] = (gh,)
                    shapes["bias_hh" + s] = (gh,)
                if self.proj_size:
                    shapes["weight_hr" + s] = (self.proj_size, self.hidden_size)
                if self.peepholes:
                    shapes["peephole" + s] = (3 * self.hidden_size,)
        return shapes

    def _build(self) -> None:
        p = self._params
        weights: List[Tuple[Optional[np.ndarray], ...]] = []
        for layer in range(self.num_layers):
            for d in range(self._directions):
                s = self._suffix(layer, d)
                weights.append((p["weight_ih" + s], p["weight_hh" + s], p.get("bias_ih" + s), p.get("bias_hh" + s),
                                p.get("weight_hr" + s), p.get("peephole" + s)))
        self._net = _core.Network(
            self._kind,
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bidirectional,
            self.proj_size,
            self.linear_before_reset,
            weights,
            self._options,
        )

    def state_dict(self) -> Dict[str, np.ndarray]:
        """The parameters under PyTorch's names, shapes and gate order (float32 copies)."""
        return {name: value.copy() for name, value in self._params.items()}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Replace every parameter. Values may be anything ``np.asarray`` accepts (NumPy
        arrays, lists, torch tensors); they are converted to float32 and packed once.
        Raises ValueError naming the key on a missing, unexpected or misshapen entry or one
        holding NaN or +-inf (also a float64 value beyond float32's range), TypeError on a
        non-numeric one. A load that raises leaves the model as it was."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict: expected a mapping of names to arrays, got {type(state_dict).__name__}")
        shapes = self._param_shapes()
        missing = [k for k in shapes if k not in state_dict]
        unexpected = [k for k in state_dict if k not in shapes]
        if missing:
            raise ValueError(f"state_dict: missing key(s) {', '.join(repr(k) for k in missing)}")
        if unexpected:
            raise ValueError(f"state_dict: unexpected key(s) {', '.join(repr(k) for k in unexpected)}")
        new = {}
        for name, shape in shapes.items():
            value = _as_float32(state_dict[name], f"state_dict key {name!r}")
            if value.shape != shape:
                raise ValueError(f"state_dict key {name!r}: expected shape {_shape(shape)}, got {_shape(value.shape)}")
            finite = np.isfinite(value)
            if not finite.all():
                first = tuple(int(i) for i in np.argwhere(~finite)[0])
                raise ValueError(f"state_dict key {name!r}: {value.size - int(finite.sum())} non-finite value(s) "
                                 f"(NaN or inf), the first at index {_shape(first)}: {value[first]}")
            new[name] = value.copy()
        old = self._params
        self._params = new
        try:
            self._build()
        except Exception:
            self._params = old
            raise

    def save(self, path: Any) -> None:
        """Write the configuration and weights to ``path`` in safetensors format (the
        weights under their PyTorch names, the configuration in the metadata); read it
        back with :func:`gatedrnn.load`."""
        from ._io import save

        save(self, path)

    def __reduce__(self):
        """Pickling: the configuration and the weights (the packed panels are rebuilt)."""
        from ._io import reduce_layer

        return reduce_layer(self)

    def stream(self, batch_size: int = 1) -> "Stream":
        """A :class:`~gatedrnn.Stream` over this model: the state kept inside, advanced a
        step (``s.step(x_t)``) or a chunk (``s(x)``) at a time. Unidirectional models only."""
        from ._stream import Stream

        return Stream(self, batch_size)

    # -- calls ----------------------------------------------------------------------------
    def _state_shape(self, batch: Optional[int], size: int) -> Tuple[int, ...]:
        lead = self.num_layers * self._directions
        return (lead, size) if batch is None else (lead, batch, size)

    def _check_state(self, value: Any, name: str, batch: Optional[int], size: int) -> np.ndarray:
        arr = _as_float32(value, name)
        expected = self._state_shape(batch, size)
        if arr.shape != expected:
            raise ValueError(f"{name}: expected shape {_shape(expected)}, got {_shape(arr.shape)}")
        return arr

    def _run(self, x: Any, h0: Any, c0: Any, lengths: Any):
        if lengths is None and type(x) is np.ndarray and x.ndim == 3 and _ready(x) and _ready(h0) and _ready(c0):
            return self._net.forward(x, h0, c0, None, self.batch_first, self.num_threads or get_num_threads())
        x = _as_float32(x, "x")
        I = self.input_size
        if x.ndim == 2:
            batch = None
            if x.shape[1] != I:
                raise ValueError(f"x: expected shape (T, {I}) with input_size={I} (unbatched), got {_shape(x.shape)}")
            if lengths is not None:
                raise ValueError("lengths: needs batched input (x of 3 dimensions); unbatched x has shape " + _shape(x.shape))
            x3 = x[:, None, :]
            batch_first = False
        elif x.ndim == 3:
            layout = "(B, T, {})" if self.batch_first else "(T, B, {})"
            if x.shape[2] != I:
                raise ValueError(f"x: expected shape {layout.format(I)} with input_size={I}, got {_shape(x.shape)}")
            batch = x.shape[0] if self.batch_first else x.shape[1]
            x3 = x
            batch_first = self.batch_first
        else:
            form = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
            raise ValueError(f"x: expected a 3-D array {form} or a 2-D unbatched (T, input_size), got shape {_shape(x.shape)}")
        steps = x3.shape[1] if batch_first else x3.shape[0]
        h = None if h0 is None else self._check_state(h0, self._h_name, batch, self._out_size)
        c = None if c0 is None else self._check_state(c0, "c0", batch, self.hidden_size)
        if batch is None:
            h = None if h is None else h[:, None, :]
            c = None if c is None else c[:, None, :]
        lens = None if lengths is None else _as_lengths(lengths, batch, steps)
        y, h_n, c_n = self._net.forward(x3, h, c, lens, batch_first, self.num_threads or get_num_threads())
        if batch is None:
            y, h_n = y[:, 0, :], h_n[:, 0, :]
            c_n = None if c_n is None else c_n[:, 0, :]
        return y, h_n, c_n

    _h_name = "h0"

    def __repr__(self) -> str:
        args = [f"{self.input_size}", f"{self.hidden_size}"]
        if not self._cell:
            if self.num_layers != 1:
                args.append(f"num_layers={self.num_layers}")
            if self.batch_first:
                args.append("batch_first=True")
            if self.bidirectional:
                args.append("bidirectional=True")
            if self.proj_size:
                args.append(f"proj_size={self.proj_size}")
        if not self.bias:
            args.append("bias=False")
        if self.precision != "fp32":
            args.append(f"precision={self.precision!r}")
        if self._kind == "gru" and not self.linear_before_reset:
            args.append("linear_before_reset=False")
        for name in ("reverse", "peepholes", "input_forget"):
            if getattr(self, name):
                args.append(f"{name}=True")
        for name in ("clip", "activations", "activation_alpha", "activation_beta"):
            if getattr(self, name) is not None:
                args.append(f"{name}={getattr(self, name)!r}")
        return f"{type(self).__name__}({', '.join(args)})"


class LSTM(_Recurrent):
    """Multi-layer LSTM with PyTorch's semantics (``torch.nn.LSTM``), for inference.

    Gates i, f, g, o::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)    c' = f * c + i * g
        f = sigmoid(W_if x + b_if + W_hf h + b_hf)    h' = o * tanh(c')
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)       (h' = W_hr h' when proj_size > 0)
        o = sigmoid(W_io x + b_io + W_ho h + b_ho)

    Call ``y, (h_n, c_n) = lstm(x, state=None, *, lengths=None)``:

    - ``x``: (T, B, input_size), (B, T, input_size) with ``batch_first``, or (T, input_size).
    - ``state``: ``(h0, c0)`` with h0 (D*num_layers, B, H_out) and c0 (D*num_layers, B,
      hidden_size) (no B axis for unbatched input); zeros when None. D = 2 if bidirectional.
    - ``lengths``: (B,) valid length of each sequence, 0 <= len <= T. Outputs past it are 0,
      final states are taken at the last valid step, the reverse direction runs over the
      valid prefix (``pack_padded_sequence`` semantics).
    - Returns float32 arrays: y (T, B, D*H_out) (batch-first if ``batch_first``), h_n, c_n.
      H_out = proj_size or hidden_size.

    The ONNX operator's options (keyword-only; the defaults are PyTorch's cell):

    - ``reverse``: a unidirectional layer runs from each row's last valid step back to
      step 0 (ONNX direction="reverse", Keras go_backwards); y stays aligned with x.
    - ``peepholes``: adds ``peephole_l{k}`` (3*hidden_size,), gates i, f, o:
      i += p_i * c, f += p_f * c before their activations, o += p_o * c' (not with proj_size).
    - ``input_forget``: f = 1 - i.  ``clip``: every gate pre-activation is clamped to
      [-clip, clip] (not the cell state).
    - ``activations``: ONNX names (Sigmoid, Tanh, Relu, Affine, LeakyRelu, ThresholdedRelu,
      ScaledTanh, HardSigmoid, Elu, Softsign, Softplus; any case) for f (gates), g (cell
      candidate), h (output of c): 3 names, or 3 per direction; ``activation_alpha`` /
      ``activation_beta``: their parameters, consumed in order as in ONNX (ONNX's defaults
      when short). Sigmoid and tanh run vectorised, the others lane by lane.

    All run on the fused kernels. Raises ValueError / TypeError naming the argument on
    wrong shapes or dtypes.

    ``precision``: "fp32" (default), "bf16" or "int8": the weights are converted once,
    here (bf16: rounded to bfloat16; int8: quantised per output row, scale max|row| / 127),
    and each matrix product's other operand (x_t, h_{t-1}, the projection's input) as it
    is made (int8: per batch row and step); sums, gate math, states, inputs and outputs
    stay float32 (int8 products are summed in int32). ``gatedrnn.reference.lstm(...,
    precision=...)`` is the same in float64. Errors against fp32 are a few 1e-3 in bf16
    and about 1e-2 in int8 (README, "Precision"). ``state_dict()`` keeps the float32
    weights.

    Example::

        >>> lstm = gatedrnn.LSTM(16, 32, num_layers=2, seed=0)
        >>> y, (h, c) = lstm(np.zeros((10, 4, 16), np.float32))
        >>> y.shape, h.shape
        ((10, 4, 32), (2, 4, 32))
    """

    _kind = "lstm"
    _gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        seed: Optional[int] = None,
        num_threads: Optional[int] = None,
        reverse: bool = False,
        peepholes: bool = False,
        input_forget: bool = False,
        clip: Optional[float] = None,
        activations: Optional[Sequence[str]] = None,
        activation_alpha: Optional[Sequence[float]] = None,
        activation_beta: Optional[Sequence[float]] = None,
        precision: str = "fp32",
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional, proj_size, True, seed,
                         num_threads, reverse, peepholes, input_forget, clip, activations, activation_alpha,
                         activation_beta, precision)

    def __call__(self, x: Any, state: Optional[Tuple[Any, Any]] = None, *, lengths: Any = None):
        # The fast path: the core checks the shapes (and copies a strided x).
        if state is None and lengths is None and type(x) is np.ndarray and x.dtype is _F32 and x.ndim == 3:
            y, h_n, c_n = self._net.forward(x, None, None, None, self.batch_first,
                                            self.num_threads or get_num_threads())
            return y, (h_n, c_n)
        h0 = c0 = None
        if state is not None:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"state: expected a tuple (h0, c0), got {type(state).__name__}")
            h0, c0 = state
        y, h_n, c_n = self._run(x, h0, c0, lengths)
        return y, (h_n, c_n)


class GRU(_Recurrent):
    """Multi-layer GRU with PyTorch's semantics (``torch.nn.GRU``), for inference.

    Gates r, z, n::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     linear_before_reset=True (PyTorch)
        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)     linear_before_reset=False (ONNX default)
        h' = (1 - z) * n + z * h

    Call ``y, h_n = gru(x, h0=None, *, lengths=None)``; shapes as in :class:`LSTM`
    (H_out = hidden_size). ``reverse``, ``clip``, ``activations`` (2 per direction: f
    for r and z, g for n) and ``precision`` as in :class:`LSTM` (bf16 and int8 also
    round r * h with ``linear_before_reset=False``).

    Example::

        >>> gru = gatedrnn.GRU(16, 32, bidirectional=True, seed=0)
        >>> y, h = gru(np.zeros((10, 4, 16), np.float32))
        >>> y.shape, h.shape
        ((10, 4, 64), (2, 4, 32))
    """

    _kind = "gru"
    _gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        *,
        linear_before_reset: bool = True,
        seed: Optional[int] = None,
        num_threads: Optional[int] = None,
        reverse: bool = False,
        clip: Optional[float] = None,
        activations: Optional[Sequence[str]] = None,
        activation_alpha: Optional[Sequence[float]] = None,
        activation_beta: Optional[Sequence[float]] = None,
        precision: str = "fp32",
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional, 0, linear_before_reset,
                         seed, num_threads, reverse, False, False, clip, activations, activation_alpha, activation_beta,
                         precision)

    def __call__(self, x: Any, h0: Any = None, *, lengths: Any = None):
        # The fast path: the core checks the shapes (and copies a strided x).
        if h0 is None and lengths is None and type(x) is np.ndarray and x.dtype is _F32 and x.ndim == 3:
            y, h_n, _ = self._net.forward(x, None, None, None, self.batch_first,
                                          self.num_threads or get_num_threads())
            return y, h_n
        y, h_n, _ = self._run(x, h0, None, lengths)
        return y, h_n


class _CellMixin:
    """Cells: one step, x (B, input_size) or (input_size,), states without the layer axis."""

    _cell = True
    _h_name = "h"

    def _step(self, x: Any, h: Any, c: Any):
        if type(x) is np.ndarray and x.ndim == 2 and _ready(x) and _ready(h) and _ready(c):
            return self._net.step(x, h, c, get_num_threads())  # type: ignore[attr-defined]
        x = _as_float32(x, "x")
        I = self.input_size  # type: ignore[attr-defined]
        H = self.hidden_size  # type: ignore[attr-defined]
        if x.ndim not in (1, 2) or x.shape[-1] != I:
            raise ValueError(f"x: expected shape (B, {I}) or ({I},) with input_size={I}, got {_shape(x.shape)}")
        batch = x.shape[0] if x.ndim == 2 else None
        expected = (H,) if batch is None else (batch, H)

        def state(value: Any, name: str) -> Optional[np.ndarray]:
            if value is None:
                return None
            arr = _as_float32(value, name)
            if arr.shape != expected:
                raise ValueError(f"{name}: expected shape {_shape(expected)}, got {_shape(arr.shape)}")
            return arr.reshape((1, 1, H) if batch is None else (1, batch, H))

        x3 = x.reshape((1, 1, I) if batch is None else (1, batch, I))
        _, h_n, c_n = self._net.forward(x3, state(h, "h"), state(c, "c"), None, False, get_num_threads())  # type: ignore[attr-defined]
        shape = expected
        return h_n.reshape(shape), None if c_n is None else c_n.reshape(shape)


class LSTMCell(_CellMixin, LSTM):
    """One LSTM step with ``torch.nn.LSTMCell``'s semantics and parameter names
    (weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh).

    ``h, c = cell(x, state=None)``: x (B, input_size) or (input_size,); state (h, c) of
    shape (B, hidden_size) (or (hidden_size,)), zeros when None. Returns float32 arrays.
    ``precision`` ("fp32" or "bf16") as in :class:`LSTM`.

    Example::

        >>> cell = gatedrnn.LSTMCell(8, 16, seed=0)
        >>> h, c = cell(np.ones((2, 8), np.float32))
        >>> h.shape
        (2, 16)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, seed: Optional[int] = None,
                 precision: str = "fp32") -> None:
        LSTM.__init__(self, input_size, hidden_size, 1, bias, seed=seed, precision=precision)

    def __call__(self, x: Any, state: Optional[Tuple[Any, Any]] = None, *, lengths: Any = None):  # type: ignore[override]
        if lengths is None and type(x) is np.ndarray and x.ndim == 2 and x.dtype is _F32:  # the fast path
            if state is None:
                return self._net.step(x, None, None, get_num_threads())
            if type(state) is tuple and len(state) == 2 and _ready(state[0]) and _ready(state[1]):
                return self._net.step(x, state[0], state[1], get_num_threads())
        if lengths is not None:
            raise TypeError("lengths: cells take one step; use LSTM for sequences")
        h0 = c0 = None
        if state is not None:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"state: expected a tuple (h, c), got {type(state).__name__}")
            h0, c0 = state
        return self._step(x, h0, c0)


class GRUCell(_CellMixin, GRU):
    """One GRU step with ``torch.nn.GRUCell``'s semantics and parameter names
    (weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh).

    ``h = cell(x, h=None)``: x (B, input_size) or (input_size,); h (B, hidden_size) or
    (hidden_size,), zeros when None. Returns a float32 array. ``precision`` ("fp32",
    "bf16" or "int8") as in :class:`LSTM`.

    Example::

        >>> cell = gatedrnn.GRUCell(8, 16, seed=0)
        >>> cell(np.ones(8, np.float32)).shape
        (16,)
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, *, linear_before_reset: bool = True,
        seed: Optional[int] = None, precision: str = "fp32",
    ) -> None:
        GRU.__init__(self, input_size, hidden_size, 1, bias, linear_before_reset=linear_before_reset, seed=seed,
                     precision=precision)

    def __call__(self, x: Any, h: Any = None, *, lengths: Any = None):  # type: ignore[override]
        if lengths is None and type(x) is np.ndarray and x.ndim == 2 and x.dtype is _F32 and _ready(h):  # fast path
            return self._net.step(x, h, None, get_num_threads())[0]
        if lengths is not None:
            raise TypeError("lengths: cells take one step; use GRU for sequences")
        return self._step(x, h, None)[0]
