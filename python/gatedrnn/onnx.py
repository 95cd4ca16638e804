"""The ONNX LSTM and GRU operators as functions: ONNX's inputs, attributes and outputs.

``lstm`` and ``gru`` take the operator's inputs (``X, W, R, B, sequence_lens, initial_h,
...``) and attributes (keyword arguments with the attribute names), and return the
operator's outputs in ONNX's layout: ``(Y, Y_h, Y_c)`` for LSTM, ``(Y, Y_h)`` for GRU.
They need neither the ``onnx`` package nor onnxruntime: each call converts the weights
to a :class:`gatedrnn.LSTM` / :class:`gatedrnn.GRU` layer (gate orders rearranged once) and
runs it on the fused kernels.

Shapes (D = 2 for ``direction="bidirectional"``, else 1; G = 4 for LSTM, 3 for GRU):

=============== ===================== ===================== ===============================
tensor          layout=0              layout=1              gate order / content
=============== ===================== ===================== ===============================
X               (T, B, I)             (B, T, I)
W               (D, G*H, I)           same                  LSTM i, o, f, c; GRU z, r, h
R               (D, G*H, H)           same                  same
B               (D, 2*G*H)            same                  [Wb, Rb], each in gate order
sequence_lens   (B,)                  same                  integers in [0, T]
initial_h, _c   (D, B, H)             (B, D, H)
P (LSTM)        (D, 3*H)              same                  i, o, f
Y               (T, D, B, H)          (B, T, D, H)
Y_h, Y_c        (D, B, H)             (B, D, H)
=============== ===================== ===================== ===============================

Where the ONNX specification leaves the behaviour open, these functions do what
onnxruntime (CPU) does:

- A row whose ``sequence_lens`` is 0 (every row, when ``seq_length`` is 0) gets zeros in
  ``Y_h`` and ``Y_c`` (not its initial state), and zeros in ``Y``.
- ``clip`` clamps the pre-activation of every gate (LSTM i, f, c, o after the peephole
  terms; GRU z, r, h) to ``[-clip, clip]``; the cell state, and so the input of the LSTM's
  ``h`` activation, is not clipped.
- ``activation_alpha`` / ``activation_beta`` are consumed in order by the activations that
  take them (alpha: Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu; beta:
  Affine, ScaledTanh, HardSigmoid); surplus values are ignored. When a list runs short,
  LeakyRelu's alpha is 0.01, HardSigmoid's alpha/beta 0.2/0.5, Elu's alpha 1.0, and every
  other missing alpha or beta is 0.0 (onnxruntime's defaults; e.g. Affine then gives 0 and
  ThresholdedRelu a threshold of 0).
- ThresholdedRelu is ``x if x > alpha else 0``; activation names are case-insensitive;
  ``input_forget`` and ``linear_before_reset`` are true for any non-zero value.

Deliberate differences from onnxruntime: ``hidden_size`` may be omitted (it is read from
R); ``layout=1`` runs (onnxruntime rejects it); inputs of any real dtype are accepted and
computed in float32; ``seq_length`` 0 gives zero final states (onnxruntime 1.32 leaves the
LSTM's ``Y_c`` uninitialized and aborts in the GRU); weights holding NaN or infinity are
rejected (gatedrnn layers hold finite weights only).

Example::

    >>> import numpy as np, gatedrnn.onnx as gonnx
    >>> T, B, I, H = 5, 2, 3, 4
    >>> X = np.random.rand(T, B, I).astype(np.float32)
    >>> W, R = np.random.rand(1, 4 * H, I), np.random.rand(1, 4 * H, H)
    >>> Y, Y_h, Y_c = gonnx.lstm(X, W, R, direction="forward")
    >>> Y.shape, Y_h.shape
    ((5, 1, 2, 4), (1, 2, 4))
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

from . import _activations
from ._layers import GRU, LSTM, Float32Array, _as_float32, _shape, weights_follow

__all__ = ["lstm", "gru"]

DIRECTIONS = ("forward", "reverse", "bidirectional")

# The value of an alpha / beta the lists do not supply: onnxruntime's (rnn_helpers.cc);
# every function not listed here gets 0.0.
_MISSING_DEFAULTS = {"leakyrelu": (0.01, 0.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, 0.0)}
_DEFAULT_ACTIVATIONS = {"lstm": ("Sigmoid", "Tanh", "Tanh"), "gru": ("Sigmoid", "Tanh")}

# Gate blocks of the ONNX tensors, in the order PyTorch (and so gatedrnn) stores them:
# LSTM ONNX i, o, f, c -> i, f, c(=g), o; GRU ONNX z, r, h -> r, z, h(=n).
_LSTM_ORDER = (0, 2, 3, 1)
_GRU_ORDER = (1, 0, 2)
# ONNX peepholes i, o, f -> gatedrnn's i, f, o.
_PEEPHOLE_ORDER = (0, 2, 1)


# -- attributes ---------------------------------------------------------------------------
def _check_direction(direction: Any) -> str:
    """A valid ``direction`` attribute, as a str."""
    if isinstance(direction, bytes):
        direction = direction.decode("utf-8", "replace")
    if not isinstance(direction, str):
        raise TypeError(f"direction: expected a str, one of {', '.join(map(repr, DIRECTIONS))}; got "
                        f"{type(direction).__name__}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: expected one of {', '.join(map(repr, DIRECTIONS))}, got {direction!r}")
    return direction


def _check_int_attr(value: Any, name: str, allowed: Optional[Sequence[int]] = None) -> int:
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if allowed is not None and value not in allowed:
        raise ValueError(f"{name}: expected one of {', '.join(map(str, allowed))}, got {value}")
    return int(value)


def _check_clip(clip: Any) -> Optional[float]:
    if clip is None:
        return None
    if isinstance(clip, (bool, np.bool_)) or not isinstance(clip, (int, float, np.integer, np.floating)):
        raise TypeError(f"clip: expected a float > 0 or None, got {type(clip).__name__}")
    clip = float(clip)
    if not clip > 0:  # also NaN
        raise ValueError(f"clip: expected a float > 0 (the cell clip threshold) or None, got {clip}")
    return None if math.isinf(clip) else clip


def _float_list(values: Any, name: str) -> List[float]:
    if values is None:
        return []
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name}: expected a list of floats, got {type(values).__name__}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a list of floats: {exc}") from None
    if arr.ndim != 1:
        raise TypeError(f"{name}: expected a list of floats, got an array of shape {_shape(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite values, got {arr.tolist()}")
    out: List[float] = arr.tolist()
    return out


def _resolve_activations(
    kind: str, activations: Any, alpha: Any, beta: Any, directions: int
) -> Tuple[Optional[List[str]], Optional[List[float]], Optional[List[float]]]:
    """ONNX's activation attributes as arguments for the gatedrnn layer.

    Returns ``(names, alphas, betas)`` with one name per slot (``per_direction *
    directions``) and every alpha/beta spelled out (onnxruntime's values for the ones the
    lists do not supply), so the layer's own defaults never apply; or ``(None, None,
    None)`` when the activations are the operator's defaults (the fused kernels).
    """
    defaults = _DEFAULT_ACTIVATIONS[kind]
    per_direction = len(defaults)
    alphas = _float_list(alpha, "activation_alpha")
    betas = _float_list(beta, "activation_beta")
    if activations is None:
        return None, None, None
    if isinstance(activations, (str, bytes)) or not isinstance(activations, Sequence) and not isinstance(
            activations, np.ndarray):
        raise TypeError(f"activations: expected a list of activation names, got {type(activations).__name__}")
    names = list(activations)
    expected = per_direction * directions
    if len(names) != expected:
        slots = ", ".join("fgh"[:per_direction])
        what = f"{per_direction} per direction ({slots}) x {directions} direction{'s' if directions > 1 else ''}"
        raise ValueError(f"activations: expected {expected} names ({what}), got {len(names)}: {names}")
    out_names: List[str] = []
    out_alphas: List[float] = []
    out_betas: List[float] = []
    for k, name in enumerate(names):
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if not isinstance(name, str):
            raise TypeError(f"activations[{k}]: expected a str, got {type(name).__name__}")
        canonical = _activations.canonical(name, f"activations[{k}]")
        takes_alpha, takes_beta = _activations.takes_parameters(canonical)
        default_alpha, default_beta = _MISSING_DEFAULTS.get(name.lower(), (0.0, 0.0))
        if takes_alpha:
            out_alphas.append(alphas.pop(0) if alphas else default_alpha)
        if takes_beta:
            out_betas.append(betas.pop(0) if betas else default_beta)
        out_names.append(canonical)
    if tuple(out_names) == defaults * directions:
        return None, None, None
    return out_names, out_alphas or None, out_betas or None


# -- weights ----------------------------------------------------------------------------
def _check_shape(arr: np.ndarray, name: str, expected: Tuple[int, ...], formula: str) -> None:
    if arr.shape != expected:
        raise ValueError(f"{name}: expected shape {formula} = {_shape(expected)}, got {_shape(arr.shape)}")


def _hidden_size(R: Float32Array, hidden_size: object, gates: int, directions: int) -> int:
    """hidden_size from R (checked against the attribute when that is given)."""
    formula = f"(num_directions, {gates}*hidden_size, hidden_size)"
    if hidden_size is not None:
        hidden_size = _check_int_attr(hidden_size, "hidden_size")
        if hidden_size < 1:
            raise ValueError(f"hidden_size: expected an int >= 1, got {hidden_size}")
        _check_shape(R, "R", (directions, gates * hidden_size, hidden_size), formula)
        return hidden_size
    if R.ndim != 3 or R.shape[2] < 1:
        raise ValueError(f"R: expected a 3-D array of shape {formula} with hidden_size >= 1, "
                         f"got shape {_shape(R.shape)}")
    H: int = R.shape[2]
    _check_shape(R, "R", (directions, gates * H, H), formula)
    return H


def _blocks(a: np.ndarray, order: Tuple[int, ...], hidden: int) -> np.ndarray:
    """Rearrange the gate blocks (of ``hidden`` rows each) along the first axis."""
    return np.concatenate([a[g * hidden:(g + 1) * hidden] for g in order], axis=0)


@overload
def _build_layer(
    kind: Literal["lstm"], W: Any, R: Any, B: Any, P: Any, *, input_size: Optional[int], hidden_size: Any,
    direction: Any, activations: Any, activation_alpha: Any, activation_beta: Any, clip: Any, input_forget: Any = ...,
    linear_before_reset: Any = ..., layout: Any = ..., num_threads: Optional[int] = ..., precision: str = ...,
) -> LSTM: ...
@overload
def _build_layer(
    kind: Literal["gru"], W: Any, R: Any, B: Any, P: Any, *, input_size: Optional[int], hidden_size: Any,
    direction: Any, activations: Any, activation_alpha: Any, activation_beta: Any, clip: Any, input_forget: Any = ...,
    linear_before_reset: Any = ..., layout: Any = ..., num_threads: Optional[int] = ..., precision: str = ...,
) -> GRU: ...
@overload
def _build_layer(
    kind: str, W: Any, R: Any, B: Any, P: Any, *, input_size: Optional[int], hidden_size: Any,
    direction: Any, activations: Any, activation_alpha: Any, activation_beta: Any, clip: Any, input_forget: Any = ...,
    linear_before_reset: Any = ..., layout: Any = ..., num_threads: Optional[int] = ..., precision: str = ...,
) -> Union[LSTM, GRU]: ...


def _build_layer(
    kind: str,
    W: Any,
    R: Any,
    B: Any,
    P: Any,
    *,
    input_size: Optional[int],
    hidden_size: Any,
    direction: Any,
    activations: Any,
    activation_alpha: Any,
    activation_beta: Any,
    clip: Any,
    input_forget: Any = 0,
    linear_before_reset: Any = 0,
    layout: Any = 0,
    num_threads: Optional[int] = None,
    precision: str = "fp32",
) -> Union[LSTM, GRU]:
    """A gatedrnn layer computing the ONNX ``kind`` ("lstm" or "gru") node with these
    inputs and attributes; ``input_size`` None takes it from W. Raises ValueError /
    TypeError naming the input or attribute on anything ONNX (or onnxruntime) rejects."""
    direction = _check_direction(direction)
    D = 2 if direction == "bidirectional" else 1
    layout = _check_int_attr(layout, "layout", (0, 1))
    clip = _check_clip(clip)
    input_forget = _check_int_attr(input_forget, "input_forget") != 0
    linear_before_reset = _check_int_attr(linear_before_reset, "linear_before_reset") != 0
    names, alphas, betas = _resolve_activations(kind, activations, activation_alpha, activation_beta, D)
    G = 4 if kind == "lstm" else 3

    W = _as_float32(W, "W")
    R = _as_float32(R, "R")
    H = _hidden_size(R, hidden_size, G, D)
    if input_size is None:
        if W.ndim != 3 or W.shape[2] < 1:
            raise ValueError(f"W: expected a 3-D array of shape (num_directions, {G}*hidden_size, input_size) "
                             f"with input_size >= 1, got shape {_shape(W.shape)}")
        input_size = W.shape[2]
    I = input_size
    _check_shape(W, "W", (D, G * H, I), f"(num_directions, {G}*hidden_size, input_size)")
    if B is not None:
        B = _as_float32(B, "B")
        _check_shape(B, "B", (D, 2 * G * H), f"(num_directions, {2 * G}*hidden_size)")
    if P is not None:
        if kind != "lstm":
            raise TypeError("P: peepholes exist for LSTM only")
        P = _as_float32(P, "P")
        _check_shape(P, "P", (D, 3 * H), "(num_directions, 3*hidden_size)")

    for arr, name in ((W, "W"), (R, "R"), (B, "B"), (P, "P")):
        if arr is not None and not np.isfinite(arr).all():
            raise ValueError(f"{name}: gatedrnn needs finite weights, got {arr.size - int(np.isfinite(arr).sum())} "
                             "NaN or infinite value(s)")

    # Options at their defaults are left out (the layer's defaults are ONNX's).
    options: Dict[str, Any] = dict(bias=B is not None, batch_first=layout == 1, bidirectional=D == 2, seed=0,
                         num_threads=num_threads, precision=precision)
    if direction == "reverse":
        options["reverse"] = True
    if clip is not None:
        options["clip"] = clip
    if names is not None:
        options.update(activations=names, activation_alpha=alphas, activation_beta=betas)
    layer: Union[LSTM, GRU]
    order: Tuple[int, ...]
    if kind == "lstm":
        if P is not None:
            options["peepholes"] = True
        if input_forget:
            options["input_forget"] = True
        with weights_follow():
            layer = LSTM(I, H, **options)
        order = _LSTM_ORDER
    else:
        with weights_follow():
            layer = GRU(I, H, linear_before_reset=linear_before_reset, **options)
        order = _GRU_ORDER

    state: Dict[str, Float32Array] = {}
    for d in range(D):
        suffix = "_l0" + ("_reverse" if d else "")
        state["weight_ih" + suffix] = _blocks(W[d], order, H)
        state["weight_hh" + suffix] = _blocks(R[d], order, H)
        if B is not None:
            state["bias_ih" + suffix] = _blocks(B[d, :G * H], order, H)
            state["bias_hh" + suffix] = _blocks(B[d, G * H:], order, H)
        if P is not None:
            state["peephole" + suffix] = _blocks(P[d], _PEEPHOLE_ORDER, H)
    layer.load_state_dict(state)
    return layer


# -- calls ------------------------------------------------------------------------------
def _check_lengths(sequence_lens: Any, batch: int, steps: int) -> Optional[npt.NDArray[np.int64]]:
    if sequence_lens is None:
        return None
    try:
        arr = np.asarray(sequence_lens)
    except Exception as exc:
        raise TypeError(f"sequence_lens: expected integers, could not convert {type(sequence_lens).__name__}: {exc}") \
            from None
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"sequence_lens: expected integers (int32 in ONNX), got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"sequence_lens: expected shape (batch_size,) = {_shape((batch,))}, got {_shape(arr.shape)}")
    if batch and (arr.min() < 0 or arr.max() > steps):
        bad = arr[(arr < 0) | (arr > steps)][0]
        raise ValueError(f"sequence_lens: expected values in [0, seq_length] = [0, {steps}], got {bad}")
    return arr.astype(np.int64)


def _initial_state(value: Any, name: str, D: int, batch: int, H: int, layout: int) -> Optional[Float32Array]:
    """An ONNX initial state as (D, B, H) (the layer's layout)."""
    if value is None:
        return None
    arr = _as_float32(value, name)
    if layout:
        _check_shape(arr, name, (batch, D, H), "(batch_size, num_directions, hidden_size)")
        return np.ascontiguousarray(arr.transpose(1, 0, 2))
    _check_shape(arr, name, (D, batch, H), "(num_directions, batch_size, hidden_size)")
    return arr


def _check_x(X: object, layout: Any) -> Float32Array:
    X = _as_float32(X, "X")
    if X.ndim != 3 or X.shape[2] < 1:
        form = "(batch_size, seq_length, input_size)" if layout == 1 else "(seq_length, batch_size, input_size)"
        raise ValueError(f"X: expected a 3-D array {form} with input_size >= 1 (layout={layout}), "
                         f"got shape {_shape(X.shape)}")
    return X


def _prepare_call(
    layer: Union[LSTM, GRU], X: Float32Array, sequence_lens: Any, states: Sequence[Tuple[str, Any]], layout: int
) -> Tuple[Optional[npt.NDArray[np.int64]], List[Optional[Float32Array]]]:
    """Checked ``(lengths, initial states)`` for the layer's call on X."""
    batch, steps = (X.shape[0], X.shape[1]) if layout else (X.shape[1], X.shape[0])
    lengths = _check_lengths(sequence_lens, batch, steps)
    D = 2 if layer.bidirectional else 1
    return lengths, [_initial_state(v, name, D, batch, layer.hidden_size, layout) for name, v in states]


def _outputs(
    y: Float32Array, finals: Sequence[Float32Array], lengths: Optional[npt.NDArray[np.int64]], D: int, layout: int
) -> Tuple[Float32Array, ...]:
    """The layer's y (T, B, D*H) (or (B, T, D*H)) and final states (D, B, H) in ONNX's
    layout, with onnxruntime's zero final states for rows of length 0 (also when T = 0)."""
    H = finals[0].shape[-1]
    if layout:
        Y = y.reshape(y.shape[0], y.shape[1], D, H)  # (B, T, D, H): ONNX's layout 1 as it is
    else:
        Y = np.ascontiguousarray(y.reshape(y.shape[0], y.shape[1], D, H).transpose(0, 2, 1, 3))
    out = [Y]
    steps = y.shape[1] if layout else y.shape[0]
    if lengths is None:
        empty = slice(None) if steps == 0 else None  # T = 0: every row has length 0
    else:
        empty = None if lengths.all() else lengths == 0
    for s in finals:
        if empty is not None:
            s[:, empty, :] = 0.0
        out.append(np.ascontiguousarray(s.transpose(1, 0, 2)) if layout else s)
    return tuple(out)


def lstm(
    X: Any,
    W: Any,
    R: Any,
    B: Any = None,
    sequence_lens: Any = None,
    initial_h: Any = None,
    initial_c: Any = None,
    P: Any = None,
    *,
    hidden_size: Optional[int] = None,
    direction: str = "forward",
    activations: Optional[Sequence[str]] = None,
    activation_alpha: Optional[Sequence[float]] = None,
    activation_beta: Optional[Sequence[float]] = None,
    clip: Optional[float] = None,
    input_forget: int = 0,
    layout: int = 0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ONNX ``LSTM`` operator (opset 7-22): ``Y, Y_h, Y_c = lstm(X, W, R, ...)``.

    Inputs (anything ``np.asarray`` takes, of any real dtype; computed in float32) and
    attributes carry ONNX's names and meaning; the module docstring has the table of shapes
    and gate orders. None stands for an omitted optional input. D = 2 for
    "bidirectional", else 1; H = hidden_size.

    Args:
        X: (T, B, I) (layout 1: (B, T, I)).
        W: (D, 4*H, I), gates i, o, f, c.
        R: (D, 4*H, H), gates i, o, f, c.
        B: (D, 8*H): [Wb, Rb]; None: zero biases.
        sequence_lens: (B,) integers in [0, T]; None: all T.
        initial_h, initial_c: (D, B, H) (layout 1: (B, D, H)); None: zeros.
        P: (D, 3*H) peepholes, order i, o, f; None: no peepholes.
        hidden_size: optional, read from R (checked against R when given).
        direction: "forward", "reverse" or "bidirectional".
        activations: 3 names (f, g, h) per direction, forward's then reverse's; default
            Sigmoid, Tanh, Tanh. ``activation_alpha`` / ``activation_beta``: their
            parameters.
        clip: None or a threshold > 0 for every gate pre-activation.
        input_forget: non-zero couples the gates, f = 1 - i.
        layout: 0 (time-major) or 1 (batch-major) for X, the initial states and outputs.

    Returns:
        float32 arrays ``Y`` (T, D, B, H) (layout 1: (B, T, D, H)), ``Y_h`` and ``Y_c``
        (D, B, H) (layout 1: (B, D, H)).

    Raises:
        ValueError: a wrong shape or value (naming the input or attribute): shapes that
            disagree, lengths out of range, an unknown direction or activation,
            non-finite weights.
        TypeError: a non-numeric input or an attribute of the wrong type.

    Example::

        >>> X = np.random.rand(5, 2, 3).astype(np.float32)          # (T, B, I)
        >>> W, R = np.random.rand(2, 16, 3), np.random.rand(2, 16, 4)  # D = 2, H = 4
        >>> Y, Y_h, Y_c = gatedrnn.onnx.lstm(X, W, R, direction="bidirectional",
        ...                                  sequence_lens=[5, 3])
        >>> Y.shape, Y_h.shape, Y_c.shape
        ((5, 2, 2, 4), (2, 2, 4), (2, 2, 4))
    """
    x = _check_x(X, layout)
    layer = _build_layer("lstm", W, R, B, P, input_size=x.shape[2], hidden_size=hidden_size, direction=direction,
                         activations=activations, activation_alpha=activation_alpha,
                         activation_beta=activation_beta, clip=clip, input_forget=input_forget, layout=layout)
    layout = int(layout)
    lengths, (h0, c0) = _prepare_call(layer, x, sequence_lens, [("initial_h", initial_h), ("initial_c", initial_c)],
                                      layout)
    state = None
    if h0 is not None or c0 is not None:
        zeros = (2 if layer.bidirectional else 1, x.shape[0] if layout else x.shape[1], layer.hidden_size)
        state = (np.zeros(zeros, np.float32) if h0 is None else h0, np.zeros(zeros, np.float32) if c0 is None else c0)
    y, (h_n, c_n) = layer(x, state, lengths=lengths)
    return _outputs(y, [h_n, c_n], lengths, 2 if layer.bidirectional else 1, layout)  # type: ignore[return-value]


def gru(
    X: Any,
    W: Any,
    R: Any,
    B: Any = None,
    sequence_lens: Any = None,
    initial_h: Any = None,
    *,
    hidden_size: Optional[int] = None,
    direction: str = "forward",
    activations: Optional[Sequence[str]] = None,
    activation_alpha: Optional[Sequence[float]] = None,
    activation_beta: Optional[Sequence[float]] = None,
    clip: Optional[float] = None,
    linear_before_reset: int = 0,
    layout: int = 0,
) -> Tuple[np.ndarray, np.ndarray]:
    """The ONNX ``GRU`` operator (opset 7-22): ``Y, Y_h = gru(X, W, R, ...)``.

    As :func:`lstm`, with W (D, 3H, I) and R (D, 3H, H) in gate order z, r, h, B (D, 6H),
    ``activations`` 2 names (f, g) per direction (default Sigmoid, Tanh), and
    ``linear_before_reset``: 0 (ONNX's default) computes ``h = g(X W_h^T + (r * H) R_h^T +
    Rb_h + Wb_h)``, non-zero ``h = g(X W_h^T + r * (H R_h^T + Rb_h) + Wb_h)`` (PyTorch's form).

    Args:
        X: (T, B, I) (layout 1: (B, T, I)).
        W, R: (D, 3*H, I) and (D, 3*H, H), gates z, r, h.
        B: (D, 6*H): [Wb, Rb]; None: zero biases.
        sequence_lens: (B,) integers in [0, T]; None: all T.
        initial_h: (D, B, H) (layout 1: (B, D, H)); None: zeros.
        hidden_size, direction, clip, layout: as in :func:`lstm`.
        activations: 2 names (f, g) per direction; default Sigmoid, Tanh.
        linear_before_reset: 0 or non-zero (above).

    Returns:
        float32 arrays ``Y`` (T, D, B, H) (layout 1: (B, T, D, H)) and ``Y_h`` (D, B, H)
        (layout 1: (B, D, H)).

    Raises:
        ValueError, TypeError: as :func:`lstm`.

    Example::

        >>> X = np.random.rand(6, 1, 3).astype(np.float32)          # (T, B, I)
        >>> W, R = np.random.rand(1, 12, 3), np.random.rand(1, 12, 4)  # H = 4
        >>> Y, Y_h = gatedrnn.onnx.gru(X, W, R, linear_before_reset=1)
        >>> Y.shape, Y_h.shape
        ((6, 1, 1, 4), (1, 1, 4))
        >>> bool(np.array_equal(Y[-1], Y_h))                      # the last step's state
        True
    """
    x = _check_x(X, layout)
    layer = _build_layer("gru", W, R, B, None, input_size=x.shape[2], hidden_size=hidden_size, direction=direction,
                         activations=activations, activation_alpha=activation_alpha,
                         activation_beta=activation_beta, clip=clip, linear_before_reset=linear_before_reset,
                         layout=layout)
    layout = int(layout)
    lengths, (h0,) = _prepare_call(layer, x, sequence_lens, [("initial_h", initial_h)], layout)
    y, h_n = layer(x, h0, lengths=lengths)
    return _outputs(y, [h_n], lengths, 2 if layer.bidirectional else 1, layout)  # type: ignore[return-value]
