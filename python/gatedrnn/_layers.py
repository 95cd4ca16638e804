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
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _activations, _core

if TYPE_CHECKING:
    from ._core import _DirectionWeights, _NetworkOptions
    from ._stream import Stream

#: A float32 NumPy array: what every layer returns.
Float32Array = npt.NDArray[np.float32]
#: A file path, as ``save`` and ``load`` take it.
PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["LSTM", "GRU", "LSTMCell", "GRUCell"]

_REAL_KINDS = "fiu"  # float, signed and unsigned integer dtypes are converted to float32
_F32 = np.dtype(np.float32)


# Set while an importer builds a layer whose weights it loads next: the constructor then
# skips the random init and the packing (load_state_dict packs once).
_weights_follow: ContextVar[bool] = ContextVar("gatedrnn_weights_follow", default=False)


@contextlib.contextmanager
def weights_follow() -> Iterator[None]:
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


def _as_float32(value: Any, name: str) -> Float32Array:
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


def _as_lengths(lengths: Any, batch: int, steps: int) -> npt.NDArray[np.int64]:
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
        self._params: Dict[str, Float32Array]
        if _weights_follow.get():
            self._params = {name: np.zeros(shape, np.float32) for name, shape in self._param_shapes().items()}
            return  # load_state_dict builds the network
        # PyTorch's default init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in its name order.
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.hidden_size)
        self._params = {
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
        self.clip: Optional[float] = clip
        per_direction = 3 if self._kind == "lstm" else 2
        table = _activations.slots(activations, activation_alpha, activation_beta, per_direction, self._directions)
        self.activations = None if activations is None else [_activations.canonical(a, "activations") for a in activations]
        self.activation_alpha = None if activation_alpha is None else [float(a) for a in activation_alpha]
        self.activation_beta = None if activation_beta is None else [float(b) for b in activation_beta]
        options: _NetworkOptions = {}
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
        weights: List[_DirectionWeights] = []
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

    def state_dict(self) -> Dict[str, Float32Array]:
        """The parameters under PyTorch's names, shapes and gate order (float32 copies).

        Returns:
            ``{name: float32 array}`` in PyTorch's order: per layer ``k`` and direction
            (``_reverse``), ``weight_ih_l{k}`` (G*H, I_k), ``weight_hh_l{k}`` (G*H, H_out),
            ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G*H,) (with ``bias``), ``weight_hr_l{k}``
            (proj_size, H) (with ``proj_size``), ``peephole_l{k}`` (3*H,) (with
            ``peepholes``); G = 4 (LSTM, gates i, f, g, o) or 3 (GRU, r, z, n). Cells drop
            the ``_l0`` suffix. The arrays are copies: changing them does not change the
            model (use :meth:`load_state_dict`). A bf16 or int8 model returns the float32
            weights it was given.

        Example::

            >>> lstm = gatedrnn.LSTM(4, 8, seed=0)
            >>> {name: value.shape for name, value in lstm.state_dict().items()}
            {'weight_ih_l0': (32, 4), 'weight_hh_l0': (32, 8), 'bias_ih_l0': (32,), 'bias_hh_l0': (32,)}
        """
        return {name: value.copy() for name, value in self._params.items()}

    def load_state_dict(self, state_dict: Mapping[str, npt.ArrayLike]) -> None:
        """Replace every parameter (PyTorch's names and layouts, as :meth:`state_dict`).

        Args:
            state_dict: ``{name: array}`` with exactly the keys of :meth:`state_dict` and
                their shapes. Values may be anything ``np.asarray`` accepts (NumPy arrays
                of any real dtype, lists, torch tensors); they are converted to float32
                and packed once (and converted to the model's ``precision``).

        Raises:
            ValueError: a missing, unexpected or misshapen entry, or one holding NaN or
                +-inf (also a float64 value beyond float32's range); the message names
                the key.
            TypeError: ``state_dict`` is not a mapping, or an entry is not numeric.

        A load that raises leaves the model as it was.

        Example::

            >>> a, b = gatedrnn.GRU(4, 8, seed=0), gatedrnn.GRU(4, 8, seed=1)
            >>> b.load_state_dict(a.state_dict())
            >>> x = np.ones((3, 1, 4), np.float32)
            >>> bool((a(x)[0] == b(x)[0]).all())
            True
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict: expected a mapping of names to arrays, got {type(state_dict).__name__}")
        shapes = self._param_shapes()
        missing = [k for k in shapes if k not in state_dict]
        unexpected = [k for k in state_dict if k not in shapes]
        if missing:
            raise ValueError(f"state_dict: missing key(s) {', '.join(repr(k) for k in missing)}")
        if unexpected:
            raise ValueError(f"state_dict: unexpected key(s) {', '.join(repr(k) for k in unexpected)}")
        new: Dict[str, Float32Array] = {}
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

    def save(self, path: PathLike) -> None:
        """Write the configuration and weights to ``path`` (a safetensors file).

        The file holds the float32 weights under their PyTorch names and the
        configuration in its metadata (any safetensors reader opens it); read it back
        with :func:`gatedrnn.load`. An existing file is replaced.

        Args:
            path: ``str`` or ``os.PathLike``.

        Raises:
            TypeError: ``path`` is not a str or os.PathLike, or the model is a subclass
                of a gatedrnn layer (which may need other constructor arguments).
            OSError: the file cannot be written.

        Example::

            >>> import os, tempfile
            >>> path = os.path.join(tempfile.mkdtemp(), "lstm.safetensors")
            >>> lstm = gatedrnn.LSTM(4, 8, num_layers=2, seed=0)
            >>> lstm.save(path)
            >>> gatedrnn.load(path)
            LSTM(4, 8, num_layers=2)
        """
        from ._io import save

        save(self, path)

    def __reduce__(self) -> Tuple[Callable[..., Any], Tuple[str, Dict[str, Any], Dict[str, Float32Array]]]:
        """Pickling: the configuration and the weights (the packed panels are rebuilt)."""
        from ._io import reduce_layer

        return reduce_layer(self)

    def stream(self, batch_size: int = 1) -> "Stream":
        """A :class:`~gatedrnn.Stream` over this model: the state kept inside, advanced a
        step (``s.step(x_t)``) or a chunk (``s(x)``) at a time.

        Args:
            batch_size: the number of sequences streamed side by side (an int >= 1).

        Returns:
            A new :class:`~gatedrnn.Stream` with a zero state.

        Raises:
            ValueError: ``batch_size`` < 1 or not an int, or the model is bidirectional
                or ``reverse`` (those need the whole sequence).

        Example::

            >>> gru = gatedrnn.GRU(4, 8, seed=0)
            >>> s = gru.stream(batch_size=2)
            >>> s.step(np.ones((2, 4), np.float32)).shape
            (2, 8)
        """
        from ._stream import Stream

        return Stream(self, batch_size)

    # -- calls ----------------------------------------------------------------------------
    def _state_shape(self, batch: Optional[int], size: int) -> Tuple[int, ...]:
        lead = self.num_layers * self._directions
        return (lead, size) if batch is None else (lead, batch, size)

    def _check_state(self, value: Any, name: str, batch: Optional[int], size: int) -> Float32Array:
        arr = _as_float32(value, name)
        expected = self._state_shape(batch, size)
        if arr.shape != expected:
            raise ValueError(f"{name}: expected shape {_shape(expected)}, got {_shape(arr.shape)}")
        return arr

    def _run(self, x: Any, h0: Any, c0: Any, lengths: Any) -> Tuple[Float32Array, Float32Array, Optional[Float32Array]]:
        if lengths is None and type(x) is np.ndarray and x.ndim == 3 and _ready(x) and _ready(h0) and _ready(c0):
            return self._net.forward(x, h0, c0, None, self.batch_first, self.num_threads or 0)
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
        lens = None if lengths is None else _as_lengths(lengths, batch, steps)  # type: ignore[arg-type]  # batched
        y, h_n, c_n = self._net.forward(x3, h, c, lens, batch_first, self.num_threads or 0)
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

    All run on the fused kernels.

    ``precision``: "fp32" (default), "bf16" or "int8": the weights are converted once,
    here (bf16: rounded to bfloat16; int8: quantised per output row, scale max|row| / 127),
    and each matrix product's other operand (x_t, h_{t-1}, the projection's input) as it
    is made (int8: per batch row and step); sums, gate math, states, inputs and outputs
    stay float32 (int8 products are summed in int32). ``gatedrnn.reference.lstm(...,
    precision=...)`` is the same in float64. Errors against fp32 are a few 1e-3 in bf16
    and about 1e-2 in int8 (README, "Precision"). ``state_dict()`` keeps the float32
    weights.

    Args:
        input_size: features of x (I).
        hidden_size: features of the hidden and cell states (H).
        num_layers: stacked layers; layer k > 0 reads layer k - 1's output.
        bias: with ``bias_ih`` / ``bias_hh`` (False: none, as if zero).
        batch_first: x and y are (B, T, .) instead of (T, B, .) (not the states).
        bidirectional: each layer also runs backward over the sequence (D = 2); y holds
            [forward, reverse] features.
        proj_size: > 0 projects h to proj_size features (``weight_hr``): H_out =
            proj_size < hidden_size.
        seed: the seed of the random initialisation (PyTorch's, U(-1/sqrt(H),
            1/sqrt(H)) for every parameter); None: a fresh one.
        num_threads: threads per call (None: :func:`gatedrnn.get_num_threads`).
        precision: "fp32", "bf16" or "int8" (above).
        reverse, peepholes, input_forget, clip, activations, activation_alpha,
            activation_beta: the ONNX options (above).

    Raises:
        TypeError: a size or ``num_threads`` that is not an int, a ``precision`` or
            activation name that is not a str.
        ValueError: sizes < 1 (``proj_size`` < 0 or >= ``hidden_size``), an unknown
            ``precision`` or activation, options that do not go together (e.g.
            ``reverse`` with ``bidirectional``, ``peepholes`` with ``proj_size``).
        MemoryError: the parameters cannot fit in this machine's memory.

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

    def __call__(
        self,
        x: npt.ArrayLike,
        state: Optional[Tuple[Optional[npt.ArrayLike], Optional[npt.ArrayLike]]] = None,
        *,
        lengths: Optional[npt.ArrayLike] = None,
    ) -> Tuple[Float32Array, Tuple[Float32Array, Float32Array]]:
        """Run the layers over a sequence: ``y, (h_n, c_n) = lstm(x, state, lengths=...)``.

        D = 2 if bidirectional else 1, L = num_layers, H = hidden_size, H_out =
        proj_size or hidden_size.

        Args:
            x: (T, B, input_size), (B, T, input_size) with ``batch_first``, or unbatched
                (T, input_size). float32 C-contiguous arrays are used as they are; other
                real dtypes and layouts (lists, torch tensors) are converted.
            state: ``(h0, c0)``: h0 (D*L, B, H_out), c0 (D*L, B, H) (no B axis for
                unbatched x; never batch-first); None, or either element None: zeros.
            lengths: (B,) integers, 0 <= len <= T: each sequence's valid length (batched
                x only). Outputs past it are 0, final states are those of the last valid
                step, the reverse direction runs over the valid prefix.

        Returns:
            ``(y, (h_n, c_n))``, float32: y (T, B, D*H_out) ((B, T, D*H_out) with
            ``batch_first``; (T, D*H_out) unbatched), h_n (D*L, B, H_out), c_n (D*L, B, H).

        Raises:
            ValueError: a wrong shape of x, a state or lengths, or lengths out of range
                (the message shows the expected and the received shape).
            TypeError: a non-numeric x or state, non-integer lengths, or a state that is
                not a pair.

        Example::

            >>> lstm = gatedrnn.LSTM(4, 8, bidirectional=True, seed=0)
            >>> x = np.random.rand(5, 3, 4).astype(np.float32)       # (T, B, I)
            >>> y, (h_n, c_n) = lstm(x, lengths=[5, 2, 0])
            >>> y.shape, h_n.shape, y.dtype
            ((5, 3, 16), (2, 3, 8), dtype('float32'))
            >>> bool((y[2:, 1] == 0).all())                            # past len = 2
            True
        """
        if lengths is None:  # the fast path: float32 arrays, checked (strided ones copied) by the core
            out = self._net.call(x, state, self.batch_first, self.num_threads or 0)
            if out is not None:
                return out  # type: ignore[return-value]  # (y, (h_n, c_n)) from an LSTM network
        h0 = c0 = None
        if state is not None:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"state: expected a tuple (h0, c0), got {type(state).__name__}")
            h0, c0 = state
        y, h_n, c_n = self._run(x, h0, c0, lengths)
        return y, (h_n, c_n)  # type: ignore[return-value]  # an LSTM's c_n is never None


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

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, bidirectional, seed,
            num_threads, precision: as in :class:`LSTM`.
        linear_before_reset: True (PyTorch's and cuDNN's GRU) or False (the original GRU,
            ONNX's default), see the gates above.
        reverse, clip, activations, activation_alpha, activation_beta: the ONNX options,
            as in :class:`LSTM`.

    Raises:
        TypeError, ValueError, MemoryError: as :class:`LSTM`.

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

    def __call__(
        self, x: npt.ArrayLike, h0: Optional[npt.ArrayLike] = None, *, lengths: Optional[npt.ArrayLike] = None
    ) -> Tuple[Float32Array, Float32Array]:
        """Run the layers over a sequence: ``y, h_n = gru(x, h0, lengths=...)``.

        D = 2 if bidirectional else 1, L = num_layers, H = hidden_size.

        Args:
            x: (T, B, input_size), (B, T, input_size) with ``batch_first``, or unbatched
                (T, input_size); any real dtype (float32 C-contiguous: no copy).
            h0: (D*L, B, H) (unbatched: (D*L, H)), or None: zeros.
            lengths: (B,) integers, 0 <= len <= T (as in :meth:`LSTM.__call__`).

        Returns:
            ``(y, h_n)``, float32: y (T, B, D*H) ((B, T, D*H) with ``batch_first``;
            (T, D*H) unbatched), h_n (D*L, B, H).

        Raises:
            ValueError: a wrong shape of x, h0 or lengths, or lengths out of range.
            TypeError: a non-numeric x or h0, or non-integer lengths.

        Example::

            >>> gru = gatedrnn.GRU(4, 8, num_layers=2, batch_first=True, seed=0)
            >>> y, h_n = gru(np.ones((3, 5, 4), np.float32))          # (B, T, I)
            >>> y.shape, h_n.shape
            ((3, 5, 8), (2, 3, 8))
        """
        if lengths is None:  # the fast path: float32 arrays, checked (strided ones copied) by the core
            out = self._net.call(x, h0, self.batch_first, self.num_threads or 0)
            if out is not None:
                return out  # type: ignore[return-value]  # (y, h_n) from a GRU network
        y, h_n, _ = self._run(x, h0, None, lengths)
        return y, h_n


class _CellMixin:
    """Cells: one step, x (B, input_size) or (input_size,), states without the layer axis."""

    _cell = True
    _h_name = "h"
    # Provided by the layer class the cell derives from (declared for type checkers only).
    _net: _core.Network
    input_size: int
    hidden_size: int

    def _step(self, x: Any, h: Any, c: Any) -> Tuple[Float32Array, Optional[Float32Array]]:
        if type(x) is np.ndarray and x.ndim == 2 and _ready(x) and _ready(h) and _ready(c):
            return self._net.step(x, h, c, 0)
        x = _as_float32(x, "x")
        I = self.input_size
        H = self.hidden_size
        if x.ndim not in (1, 2) or x.shape[-1] != I:
            raise ValueError(f"x: expected shape (B, {I}) or ({I},) with input_size={I}, got {_shape(x.shape)}")
        batch = x.shape[0] if x.ndim == 2 else None
        expected = (H,) if batch is None else (batch, H)

        def state(value: Any, name: str) -> Optional[Float32Array]:
            if value is None:
                return None
            arr = _as_float32(value, name)
            if arr.shape != expected:
                raise ValueError(f"{name}: expected shape {_shape(expected)}, got {_shape(arr.shape)}")
            return arr.reshape((1, 1, H) if batch is None else (1, batch, H))

        x3 = x.reshape((1, 1, I) if batch is None else (1, batch, I))
        _, h_n, c_n = self._net.forward(x3, state(h, "h"), state(c, "c"), None, False, 0)
        shape = expected
        return h_n.reshape(shape), None if c_n is None else c_n.reshape(shape)


class LSTMCell(_CellMixin, LSTM):
    """One LSTM step with ``torch.nn.LSTMCell``'s semantics and parameter names
    (weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh).

    ``h, c = cell(x, state=None)``: x (B, input_size) or (input_size,); state (h, c) of
    shape (B, hidden_size) (or (hidden_size,)), zeros when None. Returns float32 arrays.

    Args:
        input_size, hidden_size, bias, seed, precision: as in :class:`LSTM`
            (``precision`` "fp32", "bf16" or "int8").

    Raises:
        TypeError, ValueError, MemoryError: as :class:`LSTM`.

    Example::

        >>> cell = gatedrnn.LSTMCell(8, 16, seed=0)
        >>> h, c = cell(np.ones((2, 8), np.float32))
        >>> h.shape
        (2, 16)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, seed: Optional[int] = None,
                 precision: str = "fp32") -> None:
        LSTM.__init__(self, input_size, hidden_size, 1, bias, seed=seed, precision=precision)

    def __call__(  # type: ignore[override]  # one step: (h, c), not (y, (h_n, c_n))
        self,
        x: npt.ArrayLike,
        state: Optional[Tuple[Optional[npt.ArrayLike], Optional[npt.ArrayLike]]] = None,
        *,
        lengths: None = None,
    ) -> Tuple[Float32Array, Float32Array]:
        """One step: ``h, c = cell(x, (h, c))``.

        Args:
            x: (B, input_size), or unbatched (input_size,); any real dtype.
            state: ``(h, c)``, each (B, hidden_size) (unbatched: (hidden_size,)); None,
                or either element None: zeros.
            lengths: not supported (cells take one step); only for the signature of
                :meth:`LSTM.__call__`.

        Returns:
            ``(h', c')``, float32 arrays shaped like h.

        Raises:
            ValueError: a wrong shape of x or a state.
            TypeError: a non-numeric x or state, a state that is not a pair, or
                ``lengths`` given.

        Example::

            >>> cell = gatedrnn.LSTMCell(4, 8, seed=0)
            >>> h, c = cell(np.ones((2, 4), np.float32))
            >>> h, c = cell(np.ones((2, 4), np.float32), (h, c))      # the next step
            >>> h.shape, c.shape
            ((2, 8), (2, 8))
        """
        if lengths is None:  # the fast path: float32 arrays, checked and run by the core
            out = self._net.cell(x, state, 0)
            if out is not None:
                return out  # type: ignore[return-value]  # (h, c) from an LSTM network
        if lengths is not None:
            raise TypeError("lengths: cells take one step; use LSTM for sequences")
        h0 = c0 = None
        if state is not None:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"state: expected a tuple (h, c), got {type(state).__name__}")
            h0, c0 = state
        return self._step(x, h0, c0)  # type: ignore[return-value]


class GRUCell(_CellMixin, GRU):
    """One GRU step with ``torch.nn.GRUCell``'s semantics and parameter names
    (weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh).

    ``h = cell(x, h=None)``: x (B, input_size) or (input_size,); h (B, hidden_size) or
    (hidden_size,), zeros when None. Returns a float32 array.

    Args:
        input_size, hidden_size, bias, seed, precision: as in :class:`LSTM`.
        linear_before_reset: as in :class:`GRU`.

    Raises:
        TypeError, ValueError, MemoryError: as :class:`LSTM`.

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

    def __call__(  # type: ignore[override]  # one step: h, not (y, h_n)
        self, x: npt.ArrayLike, h: Optional[npt.ArrayLike] = None, *, lengths: None = None
    ) -> Float32Array:
        """One step: ``h = cell(x, h)``.

        Args:
            x: (B, input_size), or unbatched (input_size,); any real dtype.
            h: (B, hidden_size) (unbatched: (hidden_size,)), or None: zeros.
            lengths: not supported (cells take one step).

        Returns:
            h', a float32 array shaped like h.

        Raises:
            ValueError: a wrong shape of x or h.
            TypeError: a non-numeric x or h, or ``lengths`` given.

        Example::

            >>> cell = gatedrnn.GRUCell(4, 8, seed=0)
            >>> h = cell(np.ones(4, np.float32))                       # unbatched
            >>> cell(np.ones(4, np.float32), h).shape
            (8,)
        """
        if lengths is None:  # the fast path: float32 arrays, checked and run by the core
            out = self._net.cell(x, h, 0)
            if out is not None:
                return out  # type: ignore[return-value]  # h from a GRU network
        if lengths is not None:
            raise TypeError("lengths: cells take one step; use GRU for sequences")
        return self._step(x, h, None)[0]
