"""Float64 NumPy reference implementations of LSTM and GRU (PyTorch semantics).

This module is the ground truth the compiled core is tested against. It is written
to be read: plain NumPy, one time step at a time, no fusion and no tricks. It
imports nothing but NumPy and computes in float64 whatever the input dtype.

The math
--------
LSTM, gate order i, f, g, o (PyTorch's)::

    i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     input gate
    f  = sigmoid(W_if x + b_if + W_hf h + b_hf)     forget gate
    g  = tanh   (W_ig x + b_ig + W_hg h + b_hg)     candidate cell
    o  = sigmoid(W_io x + b_io + W_ho h + b_ho)     output gate
    c' = f * c + i * g
    h' = o * tanh(c')
    h' = W_hr h'                                    only with proj_size > 0

GRU, gate order r, z, n (PyTorch's)::

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)     reset gate
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)     update gate
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))  linear_before_reset=True (PyTorch)
    n  = tanh(W_in x + b_in + W_hn (r * h) + b_hn)  linear_before_reset=False (original GRU)
    h' = (1 - z) * n + z * h

Weights use PyTorch's names and layouts: the gates are stacked along the rows, so
``weight_ih_l0`` is ``(G*H, I)``, ``weight_hh_l0`` is ``(G*H, H_out)``, the biases are
``(G*H,)`` (G = 4 for LSTM, 3 for GRU), and the LSTM projection ``weight_hr_l0`` is
``(P, H)``. Layer ``k`` uses the suffix ``_l{k}``, its reverse direction ``_l{k}_reverse``.
From the keys and shapes we infer:

* ``num_layers``    = how many ``weight_ih_l{k}`` keys there are (k = 0, 1, ...);
* ``bidirectional`` = whether ``weight_ih_l0_reverse`` is present (D = 2, else D = 1);
* ``bias``          = whether ``bias_ih_l0`` is present (absent: all biases are zero);
* ``proj_size`` P   = ``weight_hr_l0.shape[0]`` if present (LSTM only), else 0;
* ``hidden_size`` H = ``weight_ih_l0.shape[0] // G``; ``H_out`` = P if P > 0 else H.

Shapes (exactly torch.nn's)
---------------------------
* ``x``: ``(T, B, I)``; ``(B, T, I)`` with ``batch_first=True``; or ``(T, I)`` unbatched
  (always time-major, whatever ``batch_first`` says).
* States ``h0``/``h_n``: ``(D*num_layers, B, H_out)``; LSTM cell states ``c0``/``c_n``:
  ``(D*num_layers, B, H)`` (never projected). Unbatched: drop the B axis. States are
  never batch-first. The state of layer ``l``, direction ``d`` (0 forward, 1 reverse) is
  at index ``l*D + d``. Missing initial states are zeros.
* ``y``: ``(T, B, D*H_out)`` (``(B, T, D*H_out)`` with ``batch_first``): the last layer's
  outputs, forward features first, then reverse. Layer ``l > 0`` reads the
  concatenated ``[forward, reverse]`` outputs of layer ``l - 1``.
* ``lengths``: optional ``(B,)`` integers, ``0 <= len <= T`` (batched input only); the
  semantics of ``torch.nn.utils.rnn.pack_padded_sequence``: outputs at ``t >= len`` are
  zero, final states are those after each row's last valid step (``len == 0``: the
  initial state), and the reverse direction runs over each row's valid prefix,
  ``t = len-1, ..., 0``, starting from its initial state.

Example::

    >>> import numpy as np, gatedrnn
    >>> lstm = gatedrnn.LSTM(4, 8, num_layers=2, seed=0)
    >>> x = np.random.rand(5, 3, 4)
    >>> y_ref, (h_ref, c_ref) = gatedrnn.reference.lstm(x, lstm.state_dict(), lengths=[5, 4, 1])
    >>> y, (h, c) = lstm(x, lengths=[5, 4, 1])
    >>> y_ref.dtype, bool(np.allclose(y, y_ref, atol=1e-5) and np.allclose(c, c_ref, atol=1e-5))
    (dtype('float64'), True)
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

__all__ = ["sigmoid", "tanh", "round_bf16", "quantize_int8", "lstm_cell", "gru_cell", "lstm", "gru"]

_LSTM_GATES = 4  # i, f, g, o
_GRU_GATES = 3  # r, z, n

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
# A real scalar: the elementwise functions return a NumPy scalar for one (like np.tanh).
_Scalar = Union[float, np.floating[Any], np.integer[Any], np.bool_]
# A matrix product's operand rounding (identity, round_bf16 or quantize_int8).
_Rounding = Callable[[_F64], _F64]


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------


@overload
def sigmoid(x: _Scalar) -> np.float64: ...
@overload
def sigmoid(x: npt.ArrayLike) -> _F64: ...
def sigmoid(x: npt.ArrayLike) -> Union[_F64, np.float64]:
    """Logistic function ``1 / (1 + exp(-x))``, elementwise, in float64.

    Numerically stable for any input: only ``exp(-|x|)``, which lies in ``[0, 1]``, is
    ever computed, so nothing overflows and no floating-point warning is raised.
    ``sigmoid(+inf) = 1``, ``sigmoid(-inf) = 0``, ``sigmoid(+-0) = 0.5``, NaN gives NaN.
    For very negative ``x`` the result keeps full relative precision (~``exp(x)``).

    Args:
        x: a real scalar or array of any real dtype (bool, int, float).

    Returns:
        float64: an array of x's shape, or a NumPy scalar for a scalar x.

    Raises:
        TypeError: x is not real (complex, str, object).

    Example::

        >>> gatedrnn.reference.sigmoid(np.array([-np.inf, 0.0, 800.0]))
        array([0. , 0.5, 1. ])
        >>> float(gatedrnn.reference.sigmoid(0))
        0.5
    """
    x = _as_float64("x", x)
    with np.errstate(under="ignore"):  # exp(-745) and below flush to (sub)normal/0: fine
        e = np.exp(-np.abs(x))
        # x >= 0: 1 / (1 + exp(-x));  x < 0: exp(x) / (1 + exp(x)). NaN takes the 2nd
        # branch and stays NaN.
        out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    result: Union[_F64, np.float64] = out[()]  # a NumPy scalar for scalar input, like np.tanh
    return result


@overload
def tanh(x: _Scalar) -> np.float64: ...
@overload
def tanh(x: npt.ArrayLike) -> _F64: ...
def tanh(x: npt.ArrayLike) -> Union[_F64, np.float64]:
    """Hyperbolic tangent, elementwise, in float64 (``np.tanh``, which is stable).

    Args:
        x: a real scalar or array of any real dtype (bool, int, float).

    Returns:
        float64: an array of x's shape, or a NumPy scalar for a scalar x.

    Raises:
        TypeError: x is not real (complex, str, object).

    Example::

        >>> gatedrnn.reference.tanh([0.0, 1.0])
        array([0.        , 0.76159416])
    """
    return np.tanh(_as_float64("x", x))


@overload
def round_bf16(x: _Scalar) -> np.float64: ...
@overload
def round_bf16(x: npt.ArrayLike) -> _F64: ...
def round_bf16(x: npt.ArrayLike) -> Union[_F64, np.float64]:
    """``x`` rounded to bfloat16 (as float64 values), the way ``precision="bf16"`` rounds
    weights and operands: to float32 first, then to the nearest bfloat16 (ties to even;
    the 8 exponent bits of float32 and 7 mantissa bits). Zero and float32 denormals become
    a signed zero (vcvtneps2bf16's rule), infinities stay, NaN stays NaN; values past
    bfloat16's largest finite value round to infinity.

    Args:
        x: a real scalar or array of any real dtype (bool, int, float).

    Returns:
        float64: an array of x's shape, or a NumPy scalar for a scalar x.

    Raises:
        TypeError: x is not real (complex, str, object).

    Example::

        >>> gatedrnn.reference.round_bf16([1.0, 1 + 2**-8, 1 + 3 * 2**-8, 3e-39])  # ties to even
        array([1.      , 1.      , 1.015625, 0.      ])
    """
    f = np.atleast_1d(_as_float64("x", x))
    with np.errstate(over="ignore"):
        f = f.astype(np.float32)
    bits = f.view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16) << 16
    tiny = (bits & np.uint32(0x7F800000)) == 0
    out: npt.NDArray[Any] = np.where(tiny, bits & np.uint32(0x80000000), rounded).astype(np.uint32)
    out = out.view(np.float32).astype(np.float64)
    out[np.isnan(f)] = np.nan
    result: Union[_F64, np.float64] = out.reshape(np.shape(x))[()]
    return result


@overload
def quantize_int8(x: _Scalar) -> np.float64: ...
@overload
def quantize_int8(x: npt.ArrayLike) -> _F64: ...
def quantize_int8(x: npt.ArrayLike) -> Union[_F64, np.float64]:
    """Each row of ``x`` (the last axis) quantised the way ``precision="int8"`` quantises
    weights (per output row) and operands (per batch row, per step), returned dequantised
    (float64): ``s * q`` with ``s = max|row| / 127`` and ``q = round(row / s)`` (to nearest
    even, within [-127, 127]), both in float32 arithmetic. A row whose scale would not be
    a normal float32 (max|row| < 127 * 2^-126) counts as zero; a row holding NaN or an
    infinity becomes NaN.

    Args:
        x: a real scalar or array of any real dtype; each row along the last axis is
            quantised with its own scale.

    Returns:
        float64: the dequantised values, x's shape (a NumPy scalar for a scalar x).

    Raises:
        TypeError: x is not real (complex, str, object).

    Example::

        >>> q = gatedrnn.reference.quantize_int8([1.0, -0.5, 0.25, 0.1])  # s = 1 / 127
        >>> np.rint(q * 127)                                     # -63.5 rounds to even
        array([127., -64.,  32.,  13.])
    """
    a = np.atleast_1d(_as_float64("x", x))
    with np.errstate(over="ignore", invalid="ignore"):
        f = a.astype(np.float32)
        finite = np.isfinite(f).all(axis=-1, keepdims=True)
        most = np.max(np.abs(np.where(np.isfinite(f), f, 0)), axis=-1, keepdims=True)
        normal = most >= np.float32(127) * np.finfo(np.float32).tiny
        s = np.where(normal, most / np.float32(127), np.float32(0))  # float32
        safe = np.where(normal, s, np.float32(1))
        q = np.clip(np.rint(f / safe), -127, 127)  # float32 division, then to nearest even
    out = np.where(normal, s.astype(np.float64) * q.astype(np.float64), 0.0)
    out = np.where(finite, out, np.nan)
    result: Union[_F64, np.float64] = out.reshape(np.shape(x))[()]
    return result


def _identity(a: _F64) -> _F64:
    return a


def _operand_rounding(precision: str) -> _Rounding:
    """What a matrix product does to its operands at this precision."""
    if precision == "fp32":
        return _identity
    if precision == "bf16":
        return round_bf16
    if precision == "int8":
        return quantize_int8
    raise ValueError(f"precision: expected 'fp32', 'bf16' or 'int8', got {precision!r}")


# --------------------------------------------------------------------------------------
# One time step of each cell
# --------------------------------------------------------------------------------------


class _Weights(NamedTuple):
    """The parameters of one direction of one layer, or of one cell (PyTorch layouts).

    G is the number of gates (4 LSTM, 3 GRU), H the hidden size, H_out = P or H.
    Without bias the biases are zeros, so the formulas below need no special case.
    """

    w_ih: _F64  # (G*H, I)      input weights, gates stacked along rows
    w_hh: _F64  # (G*H, H_out)  recurrent weights
    b_ih: _F64  # (G*H,)
    b_hh: _F64  # (G*H,)
    w_hr: Optional[_F64]  # (P, H) LSTM output projection, or None


def _lstm_step(w: _Weights, x: _F64, h: _F64, c: _F64, op: _Rounding = _identity) -> Tuple[_F64, _F64]:
    """One LSTM step for a batch of rows.

    Args:
        w: the cell's weights.
        x: ``(B, I)`` inputs at this step.
        h: ``(B, H_out)`` previous hidden state.
        c: ``(B, H)`` previous cell state.
        op: what each matrix product does to its operand (x, h, m): nothing in fp32,
            ``round_bf16`` in bf16 (whose weights ``_round_weights`` rounded).

    Returns:
        ``(h', c')`` with shapes ``(B, H_out)`` and ``(B, H)``.
    """
    gates = op(x) @ w.w_ih.T + w.b_ih + op(h) @ w.w_hh.T + w.b_hh  # (B, 4H)
    i, f, g, o = np.split(gates, _LSTM_GATES, axis=1)  # each (B, H)
    i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
    c_new = f * c + i * g
    h_new = o * tanh(c_new)
    if w.w_hr is not None:
        h_new = op(h_new) @ w.w_hr.T  # project H -> P; the cell state c keeps size H
    return h_new, c_new


def _gru_step(w: _Weights, x: _F64, h: _F64, *, linear_before_reset: bool, op: _Rounding = _identity) -> Tuple[_F64]:
    """One GRU step for a batch of rows.

    Args:
        w: the cell's weights (``w.w_hr`` is None: a GRU has no projection).
        x: ``(B, I)`` inputs at this step.
        h: ``(B, H)`` previous hidden state.
        linear_before_reset: where the reset gate is applied in the candidate ``n``:
            True  -> ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` (PyTorch);
            False -> ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)`` (original GRU).
        op: what each matrix product does to its operand (see ``_lstm_step``).

    Returns:
        A 1-tuple ``(h',)`` with ``h'`` of shape ``(B, H)`` (a tuple, like the LSTM's
        ``(h', c')``, so both cells share the time loop).
    """
    x_r, x_z, x_n = np.split(op(x) @ w.w_ih.T + w.b_ih, _GRU_GATES, axis=1)  # each (B, H)
    # Recurrent weights/biases of each gate (not to be confused with the LSTM's
    # projection weight_hr: here "hr" is the reset gate's recurrent part).
    w_hr, w_hz, w_hn = np.split(w.w_hh, _GRU_GATES, axis=0)  # each (H, H)
    b_hr, b_hz, b_hn = np.split(w.b_hh, _GRU_GATES)  # each (H,)

    r = sigmoid(x_r + op(h) @ w_hr.T + b_hr)
    z = sigmoid(x_z + op(h) @ w_hz.T + b_hz)
    if linear_before_reset:
        n = tanh(x_n + r * (op(h) @ w_hn.T + b_hn))
    else:
        n = tanh(x_n + op(r * h) @ w_hn.T + b_hn)
    return ((1.0 - z) * n + z * h,)


def _round_weights(w: _Weights, op: _Rounding) -> _Weights:
    """The weights as a matrix product at this precision sees them (biases stay)."""
    if op is _identity:
        return w
    return w._replace(w_ih=op(w.w_ih), w_hh=op(w.w_hh), w_hr=None if w.w_hr is None else op(w.w_hr))


# --------------------------------------------------------------------------------------
# The time loop (one direction of one layer) and the layer stack
# --------------------------------------------------------------------------------------

# step(x_t, *state) -> new state tuple; element 0 is the hidden state h (the output).
_Step = Callable[..., Tuple[_F64, ...]]


def _run_direction(
    step: _Step, x: _F64, state: Tuple[_F64, ...], lengths: _I64, *, reverse: bool
) -> Tuple[_F64, Tuple[_F64, ...]]:
    """Run one direction of one layer over the whole sequence.

    Args:
        step: ``step(x_t, *state) -> new_state``; ``x_t`` is ``(b, I)`` and every state
            ``(b, .)`` for the ``b`` rows being advanced; ``new_state[0]`` is the output.
        x: ``(T, B, I)`` inputs.
        state: tuple of initial states, each ``(B, .)`` (LSTM: ``(h, c)``; GRU: ``(h,)``).
        lengths: ``(B,)`` integers, ``0 <= len <= T``.
        reverse: run ``t = T-1, ..., 0`` instead of ``t = 0, ..., T-1``.

    Returns:
        ``(y, final_state)``: ``y`` is ``(T, B, H_out)``, zero where ``t >= len``; the
        final state tuple has the shapes of ``state``.

    Row ``b`` takes part in step ``t`` only if ``t < lengths[b]``. Going forward, a row
    stops after its last valid step and keeps that state. Going backward, a row joins
    at ``t = len - 1`` with its initial state, so it reads its valid prefix in reverse
    and ignores the padding, exactly like a packed sequence.
    """
    num_steps, batch, _ = x.shape
    state = tuple(s.copy() for s in state)  # updated in place below
    y = np.zeros((num_steps, batch, state[0].shape[1]))
    times = range(num_steps - 1, -1, -1) if reverse else range(num_steps)
    for t in times:
        active = t < lengths  # (B,) which rows are still inside their sequence
        if not active.any():
            continue
        new_state = step(x[t, active], *(s[active] for s in state))
        for s, s_new in zip(state, new_state):
            s[active] = s_new
        y[t, active] = new_state[0]
    return y, state


def _run_layers(
    make_step: Callable[[_Weights], _Step], weights: Sequence[Sequence[_Weights]], x: _F64,
    state0: Tuple[_F64, ...], lengths: _I64,
) -> Tuple[_F64, Tuple[_F64, ...]]:
    """Run a stack of (possibly bidirectional) layers.

    Args:
        make_step: builds a step function from one direction's weights.
        weights: ``weights[l][d]`` are the weights of layer ``l``, direction ``d``.
        x: ``(T, B, I)`` inputs of the first layer.
        state0: tuple of initial states, each ``(D*L, B, .)``.
        lengths: ``(B,)`` valid lengths.

    Returns:
        ``(y, final_states)``: ``y`` is the last layer's ``(T, B, D*H_out)`` output and
        ``final_states`` a tuple shaped like ``state0``.
    """
    num_dirs = len(weights[0])
    final = tuple(np.empty_like(s) for s in state0)
    layer_input = x
    for layer, layer_weights in enumerate(weights):
        outputs: List[_F64] = []
        for direction, w in enumerate(layer_weights):
            k = layer * num_dirs + direction  # PyTorch's state index
            y, last = _run_direction(
                make_step(w),
                layer_input,
                tuple(s[k] for s in state0),
                lengths,
                reverse=direction == 1,
            )
            outputs.append(y)
            for f, s in zip(final, last):
                f[k] = s
        layer_input = np.concatenate(outputs, axis=2)  # [forward, reverse] features
    return layer_input, final


# --------------------------------------------------------------------------------------
# Reading state dicts and checking arguments
# --------------------------------------------------------------------------------------


def _as_float64(name: str, a: object) -> _F64:
    """``a`` as a float64 array; TypeError for non-real dtypes (str, object, complex)."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def _load_weights(sd: Mapping[str, object], suffix: str, gates: int, input_size: int, hidden_size: int,
                  has_bias: bool, proj_size: int, used: Set[str]) -> _Weights:
    """Read one direction's weights (keys ``weight_ih{suffix}``, ...) and check shapes."""

    def get(name: str, shape: Tuple[int, ...]) -> _F64:
        key = name + suffix
        if key not in sd:
            raise ValueError(f"state_dict key {key!r}: missing (expected shape {shape})")
        a = _as_float64(f"state_dict key {key!r}", sd[key])
        if a.shape != shape:
            raise ValueError(f"state_dict key {key!r}: expected shape {shape}, got {a.shape}")
        used.add(key)
        return a

    rows = gates * hidden_size
    w_ih = get("weight_ih", (rows, input_size))
    w_hh = get("weight_hh", (rows, proj_size or hidden_size))
    if has_bias:
        b_ih, b_hh = get("bias_ih", (rows,)), get("bias_hh", (rows,))
    else:
        b_ih, b_hh = np.zeros(rows), np.zeros(rows)
    w_hr = get("weight_hr", (proj_size, hidden_size)) if proj_size else None
    return _Weights(w_ih, w_hh, b_ih, b_hh, w_hr)


def _hidden_size(sd: Mapping[str, object], key: str, gates: int) -> Tuple[int, int]:
    """Hidden size and input size from ``sd[key]`` (a ``weight_ih``: ``(G*H, I)``)."""
    w = _as_float64(f"state_dict key {key!r}", sd[key])
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[0] % gates:
        raise ValueError(
            f"state_dict key {key!r}: expected shape ({gates}*hidden_size, input_size), "
            f"got {w.shape}"
        )
    return w.shape[0] // gates, w.shape[1]


def _check_no_extra_keys(sd: Mapping[str, object], used: Set[str]) -> None:
    extra = sorted(set(sd) - used)
    if extra:
        raise ValueError(f"state_dict: unexpected keys {extra}")


class _Network(NamedTuple):
    weights: List[List[_Weights]]  # weights[layer][direction]
    input_size: int
    hidden_size: int
    proj_size: int  # 0: no projection
    num_layers: int
    num_dirs: int

    @property
    def out_size(self) -> int:
        return self.proj_size or self.hidden_size


def _parse_layers(state_dict: Mapping[str, npt.ArrayLike], gates: int, *, allow_proj: bool) -> _Network:
    """Infer the architecture from a PyTorch-style state dict and read its weights."""
    sd = dict(state_dict)
    if "weight_ih_l0" not in sd:
        raise ValueError("state_dict key 'weight_ih_l0': missing")
    hidden, input_size = _hidden_size(sd, "weight_ih_l0", gates)
    num_layers = 0
    while f"weight_ih_l{num_layers}" in sd:
        num_layers += 1
    num_dirs = 2 if "weight_ih_l0_reverse" in sd else 1
    has_bias = "bias_ih_l0" in sd
    proj = 0
    if "weight_hr_l0" in sd:
        if not allow_proj:
            raise ValueError("state_dict key 'weight_hr_l0': a GRU has no projection")
        w_hr = _as_float64("state_dict key 'weight_hr_l0'", sd["weight_hr_l0"])
        if w_hr.ndim != 2 or w_hr.shape[0] == 0:
            raise ValueError(
                f"state_dict key 'weight_hr_l0': expected shape (proj_size, {hidden}), "
                f"got {w_hr.shape}"
            )
        proj = w_hr.shape[0]

    used: Set[str] = set()
    weights: List[List[_Weights]] = []
    for layer in range(num_layers):
        layer_in = input_size if layer == 0 else num_dirs * (proj or hidden)
        weights.append(
            [
                _load_weights(
                    sd, f"_l{layer}{'_reverse' if d else ''}", gates, layer_in, hidden,
                    has_bias, proj, used,
                )
                for d in range(num_dirs)
            ]
        )
    _check_no_extra_keys(sd, used)
    return _Network(weights, input_size, hidden, proj, num_layers, num_dirs)


def _parse_cell(state_dict: Mapping[str, npt.ArrayLike], gates: int) -> _Weights:
    """Read a cell's state dict (``weight_ih``, ``weight_hh``, optional biases)."""
    sd = dict(state_dict)
    if "weight_ih" not in sd:
        raise ValueError("state_dict key 'weight_ih': missing")
    hidden, input_size = _hidden_size(sd, "weight_ih", gates)
    used: Set[str] = set()
    w = _load_weights(sd, "", gates, input_size, hidden, "bias_ih" in sd, 0, used)
    _check_no_extra_keys(sd, used)
    return w


def _prepare_sequence(
    x: npt.ArrayLike, input_size: int, batch_first: bool, lengths: Optional[npt.ArrayLike]
) -> Tuple[_F64, _I64, bool]:
    """Return ``(x as (T, B, I) float64, lengths (B,) int64, unbatched)``."""
    x = _as_float64("x", x)
    if x.ndim == 2:
        layout = f"(T, {input_size})"
    elif x.ndim == 3:
        layout = f"(B, T, {input_size})" if batch_first else f"(T, B, {input_size})"
    else:
        layout = "(B, T, I)" if batch_first else "(T, B, I)"
        raise ValueError(f"x: expected a 3-D {layout} or 2-D (T, I) array, got shape {x.shape}")
    if x.shape[-1] != input_size:
        raise ValueError(f"x: expected shape {layout} (input_size={input_size}), got {x.shape}")
    unbatched = x.ndim == 2
    if unbatched:
        if lengths is not None:
            raise ValueError("lengths: needs batched input x (T, B, I), got unbatched x (T, I)")
        x = x[:, None, :]  # (T, 1, I): always time-major, whatever batch_first says
    elif batch_first:
        x = x.transpose(1, 0, 2)  # (B, T, I) -> (T, B, I)

    num_steps, batch = x.shape[:2]
    if lengths is None:
        return x, np.full(batch, num_steps, dtype=np.int64), unbatched
    lengths = np.asarray(lengths)
    if lengths.dtype.kind not in "iu" and lengths.size:
        raise TypeError(f"lengths: expected integers, got dtype {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"lengths: expected shape ({batch},) (batch size), got {lengths.shape}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > num_steps):
        raise ValueError(
            f"lengths: expected 0 <= len <= T={num_steps}, got values in "
            f"[{lengths.min()}, {lengths.max()}]"
        )
    return x, lengths.astype(np.int64), unbatched


def _prepare_state(
    name: str, s: Optional[npt.ArrayLike], num_states: int, batch: int, size: int, unbatched: bool
) -> _F64:
    """Initial state as ``(num_states, B, size)`` float64 (zeros when ``s`` is None)."""
    if s is None:
        return np.zeros((num_states, batch, size))
    s = _as_float64(name, s)
    expected = (num_states, size) if unbatched else (num_states, batch, size)
    if s.shape != expected:
        raise ValueError(f"{name}: expected shape {expected}, got {s.shape}")
    return s[:, None, :] if unbatched else s


def _finish_output(y: _F64, batch_first: bool, unbatched: bool) -> _F64:
    if unbatched:
        return np.ascontiguousarray(y[:, 0])
    return np.ascontiguousarray(y.transpose(1, 0, 2)) if batch_first else y


def _finish_state(s: _F64, unbatched: bool) -> _F64:
    return np.ascontiguousarray(s[:, 0]) if unbatched else s


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def lstm(
    x: npt.ArrayLike,
    state_dict: Mapping[str, npt.ArrayLike],
    state: Optional[Tuple[Optional[npt.ArrayLike], Optional[npt.ArrayLike]]] = None,
    *,
    batch_first: bool = False,
    lengths: Optional[npt.ArrayLike] = None,
    precision: str = "fp32",
) -> Tuple[_F64, Tuple[_F64, _F64]]:
    """Multi-layer (bidirectional, projected) LSTM, like ``torch.nn.LSTM``.

    Args:
        x: ``(T, B, I)``, ``(B, T, I)`` if ``batch_first``, or unbatched ``(T, I)``.
        state_dict: PyTorch names and shapes (``weight_ih_l0``, ``weight_hh_l0``,
            ``bias_ih_l0``, ``bias_hh_l0``, ``weight_hr_l0``, ``..._reverse``, ...);
            num_layers, bidirectional, bias and proj_size are inferred from it.
        state: ``(h0, c0)`` or None (zeros); ``h0`` is ``(D*L, B, H_out)``, ``c0`` is
            ``(D*L, B, H)`` (unbatched: no B axis). Either element may be None (zeros).
        batch_first: layout of ``x`` and ``y`` (not of the states).
        lengths: optional ``(B,)`` valid lengths (pack_padded_sequence semantics).
        precision: ``"fp32"``; ``"bf16"``: the weights (not the biases) and every
            matrix product's other operand (x_t, h_{t-1}, the projection's input) pass
            through :func:`round_bf16` first; ``"int8"``: through :func:`quantize_int8`
            (weights per output row, operands per batch row); all else is float64.

    Returns:
        ``(y, (h_n, c_n))`` as float64 arrays: ``y`` is ``(T, B, D*H_out)`` (or
        ``(B, T, D*H_out)``, or ``(T, D*H_out)``), the states are shaped like ``state``.

    Raises:
        ValueError: a missing, unexpected or misshapen ``state_dict`` entry; a wrong
            shape of x, a state or lengths; lengths out of range or given with unbatched
            x; an unknown precision.
        TypeError: a non-real array, a state that is not a pair, non-integer lengths.

    Example::

        >>> sd = gatedrnn.LSTM(3, 4, bidirectional=True, proj_size=2, seed=0).state_dict()
        >>> y, (h_n, c_n) = gatedrnn.reference.lstm(np.ones((6, 3)), sd)   # unbatched (T, I)
        >>> y.shape, h_n.shape, c_n.shape
        ((6, 4), (2, 2), (2, 4))
    """
    net = _parse_layers(state_dict, _LSTM_GATES, allow_proj=True)
    x, lengths, unbatched = _prepare_sequence(x, net.input_size, batch_first, lengths)
    if state is None:
        state = (None, None)
    elif not isinstance(state, (tuple, list)) or len(state) != 2:
        raise TypeError(f"state: expected a (h0, c0) tuple or None, got {type(state).__name__}")
    num_states, batch = net.num_layers * net.num_dirs, x.shape[1]
    h0 = _prepare_state("state[0] (h0)", state[0], num_states, batch, net.out_size, unbatched)
    c0 = _prepare_state("state[1] (c0)", state[1], num_states, batch, net.hidden_size, unbatched)

    op = _operand_rounding(precision)

    def make_step(w: _Weights) -> _Step:
        w = _round_weights(w, op)
        return lambda x_t, h, c: _lstm_step(w, x_t, h, c, op)

    y, (h_n, c_n) = _run_layers(make_step, net.weights, x, (h0, c0), lengths)
    return _finish_output(y, batch_first, unbatched), (
        _finish_state(h_n, unbatched),
        _finish_state(c_n, unbatched),
    )


def gru(
    x: npt.ArrayLike,
    state_dict: Mapping[str, npt.ArrayLike],
    h0: Optional[npt.ArrayLike] = None,
    *,
    batch_first: bool = False,
    lengths: Optional[npt.ArrayLike] = None,
    linear_before_reset: bool = True,
    precision: str = "fp32",
) -> Tuple[_F64, _F64]:
    """Multi-layer (bidirectional) GRU, like ``torch.nn.GRU``.

    Args:
        x: ``(T, B, I)``, ``(B, T, I)`` if ``batch_first``, or unbatched ``(T, I)``.
        state_dict: PyTorch names and shapes (``weight_ih_l0`` ``(3H, I)``, ...);
            num_layers, bidirectional and bias are inferred from it.
        h0: ``(D*L, B, H)`` (unbatched ``(D*L, H)``) or None (zeros).
        batch_first: layout of ``x`` and ``y`` (not of the state).
        lengths: optional ``(B,)`` valid lengths (pack_padded_sequence semantics).
        linear_before_reset: True is PyTorch's GRU; False the original GRU (ONNX lbr=0),
            see the module docstring.
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"`` (see :func:`lstm`; GRU's operands are x_t,
            h_{t-1} and, with ``linear_before_reset=False``, r * h).

    Returns:
        ``(y, h_n)`` as float64 arrays: ``y`` is ``(T, B, D*H)`` (or ``(B, T, D*H)``,
        or ``(T, D*H)``), ``h_n`` is shaped like ``h0``.

    Raises:
        ValueError, TypeError: as :func:`lstm`.

    Example::

        >>> gru = gatedrnn.GRU(3, 4, batch_first=True, linear_before_reset=False, seed=0)
        >>> x = np.random.rand(2, 5, 3)                                  # (B, T, I)
        >>> y_ref, h_ref = gatedrnn.reference.gru(x, gru.state_dict(), batch_first=True,
        ...                                       linear_before_reset=False)
        >>> bool(np.allclose(gru(x)[0], y_ref, atol=1e-5))
        True
    """
    net = _parse_layers(state_dict, _GRU_GATES, allow_proj=False)
    x, lengths, unbatched = _prepare_sequence(x, net.input_size, batch_first, lengths)
    num_states, batch = net.num_layers * net.num_dirs, x.shape[1]
    h0 = _prepare_state("h0", h0, num_states, batch, net.hidden_size, unbatched)

    op = _operand_rounding(precision)

    def make_step(w: _Weights) -> _Step:
        w = _round_weights(w, op)
        return lambda x_t, h: _gru_step(w, x_t, h, linear_before_reset=linear_before_reset, op=op)

    y, (h_n,) = _run_layers(make_step, net.weights, x, (h0,), lengths)
    return _finish_output(y, batch_first, unbatched), _finish_state(h_n, unbatched)


def _prepare_cell_input(x: npt.ArrayLike, input_size: int) -> Tuple[_F64, bool]:
    x = _as_float64("x", x)
    if x.ndim not in (1, 2) or x.shape[-1] != input_size:
        raise ValueError(
            f"x: expected shape (B, {input_size}) or ({input_size},) (input_size={input_size}), "
            f"got {x.shape}"
        )
    return (x[None, :], True) if x.ndim == 1 else (x, False)


def _prepare_cell_state(name: str, s: Optional[npt.ArrayLike], batch: int, size: int, unbatched: bool) -> _F64:
    if s is None:
        return np.zeros((batch, size))
    s = _as_float64(name, s)
    expected = (size,) if unbatched else (batch, size)
    if s.shape != expected:
        raise ValueError(f"{name}: expected shape {expected}, got {s.shape}")
    return s[None, :] if unbatched else s


def lstm_cell(
    x: npt.ArrayLike,
    state_dict: Mapping[str, npt.ArrayLike],
    state: Optional[Tuple[Optional[npt.ArrayLike], Optional[npt.ArrayLike]]] = None,
    *,
    precision: str = "fp32",
) -> Tuple[_F64, _F64]:
    """One LSTM step, like ``torch.nn.LSTMCell``.

    Args:
        x: ``(B, I)`` or unbatched ``(I,)``.
        state_dict: ``weight_ih`` ``(4H, I)``, ``weight_hh`` ``(4H, H)`` and optionally
            ``bias_ih``, ``bias_hh`` ``(4H,)``.
        state: ``(h, c)``, each ``(B, H)`` (unbatched ``(H,)``), or None (zeros).
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"`` (see :func:`lstm`).

    Returns:
        ``(h', c')`` float64, each shaped like ``h``.

    Raises:
        ValueError, TypeError: as :func:`lstm`.

    Example::

        >>> cell = gatedrnn.LSTMCell(3, 4, seed=0)
        >>> x = np.random.rand(2, 3)
        >>> h, c = gatedrnn.reference.lstm_cell(x, cell.state_dict())
        >>> bool(np.allclose(cell(x)[0], h, atol=1e-6))
        True
    """
    op = _operand_rounding(precision)
    w = _parse_cell(state_dict, _LSTM_GATES)
    hidden = w.w_hh.shape[1]
    x, unbatched = _prepare_cell_input(x, w.w_ih.shape[1])
    if state is None:
        state = (None, None)
    elif not isinstance(state, (tuple, list)) or len(state) != 2:
        raise TypeError(f"state: expected a (h, c) tuple or None, got {type(state).__name__}")
    h = _prepare_cell_state("state[0] (h)", state[0], x.shape[0], hidden, unbatched)
    c = _prepare_cell_state("state[1] (c)", state[1], x.shape[0], hidden, unbatched)
    h, c = _lstm_step(_round_weights(w, op), x, h, c, op)
    return (h[0], c[0]) if unbatched else (h, c)


def gru_cell(
    x: npt.ArrayLike,
    state_dict: Mapping[str, npt.ArrayLike],
    h: Optional[npt.ArrayLike] = None,
    *,
    linear_before_reset: bool = True,
    precision: str = "fp32",
) -> _F64:
    """One GRU step, like ``torch.nn.GRUCell`` (``linear_before_reset=True``).

    Args:
        x: ``(B, I)`` or unbatched ``(I,)``.
        state_dict: ``weight_ih`` ``(3H, I)``, ``weight_hh`` ``(3H, H)`` and optionally
            ``bias_ih``, ``bias_hh`` ``(3H,)``.
        h: ``(B, H)`` (unbatched ``(H,)``) or None (zeros).
        linear_before_reset: see the module docstring.
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"`` (see :func:`gru`).

    Returns:
        ``h'`` float64, shaped like ``h``.

    Raises:
        ValueError, TypeError: as :func:`lstm`.

    Example::

        >>> cell = gatedrnn.GRUCell(3, 4, seed=0)
        >>> x = np.random.rand(3)                                        # unbatched (I,)
        >>> h = gatedrnn.reference.gru_cell(x, cell.state_dict())
        >>> h.shape, bool(np.allclose(cell(x), h, atol=1e-6))
        ((4,), True)
    """
    op = _operand_rounding(precision)
    w = _parse_cell(state_dict, _GRU_GATES)
    x, unbatched = _prepare_cell_input(x, w.w_ih.shape[1])
    h = _prepare_cell_state("h", h, x.shape[0], w.w_hh.shape[1], unbatched)
    (h,) = _gru_step(_round_weights(w, op), x, h, linear_before_reset=linear_before_reset, op=op)
    return h[0] if unbatched else h


# ======================================================================================
# The ONNX LSTM and GRU operators
# ======================================================================================
#
# ``onnx_lstm`` and ``onnx_gru`` follow the ONNX operator definitions (opset 14+) word for
# word, with ONNX's tensor names, gate orders and shapes. ``D`` is the number of
# directions (2 for "bidirectional", else 1), ``G`` the number of gates (4 LSTM, 3 GRU).
#
# =============== ======================= ======================= =========================
# tensor          layout=0                layout=1                gate order / content
# =============== ======================= ======================= =========================
# X               (T, B, I)               (B, T, I)
# W               (D, G*H, I)             same                    LSTM i,o,f,c; GRU z,r,h
# R               (D, G*H, H)             same                    same
# B               (D, 2*G*H)              same                    [Wb, Rb], each gate-ordered
# sequence_lens   (B,)                    same                    0 <= len <= T
# initial_h, _c   (D, B, H)               (B, D, H)
# P (LSTM only)   (D, 3*H)                same                    i, o, f
# Y               (T, D, B, H)            (B, T, D, H)
# Y_h, Y_c        (D, B, H)               (B, D, H)
# =============== ======================= ======================= =========================
#
# LSTM (``f``, ``g``, ``h`` are activation slots, default Sigmoid, Tanh, Tanh; ``clip``
# is applied to the gate pre-activations, the arguments of f and g below, which are
# clamped to [-clip, clip] just before the activation is applied)::
#
#     i  = f(X W_i^T + H R_i^T + P_i * C + Wb_i + Rb_i)
#     f_ = f(X W_f^T + H R_f^T + P_f * C + Wb_f + Rb_f)   input_forget=1:  f_ = 1 - i
#     c  = g(X W_c^T + H R_c^T + Wb_c + Rb_c)
#     C' = f_ * C + i * c                                 (the state itself is not clipped)
#     o  = f(X W_o^T + H R_o^T + P_o * C' + Wb_o + Rb_o)
#     H' = o * h(C')                                      (C' is not clipped here either)
#
# The text says clip "is applied to the input of activations", which could also take in
# h's argument C'. onnxruntime clamps only the arguments of f and g, and so do this
# reference and gatedrnn; ``onnx_lstm(..., clip_h_input=True)`` clamps C' too.
#
# GRU (``f``, ``g`` default Sigmoid, Tanh)::
#
#     z  = f(X W_z^T + H R_z^T + Wb_z + Rb_z)
#     r  = f(X W_r^T + H R_r^T + Wb_r + Rb_r)
#     h  = g(X W_h^T + (r * H) R_h^T + Rb_h + Wb_h)        linear_before_reset=0
#     h  = g(X W_h^T + r * (H R_h^T + Rb_h) + Wb_h)        linear_before_reset=1
#     H' = (1 - z) * h + z * H
#
# Directions: "forward" runs t = 0 .. len-1, "reverse" runs t = len-1 .. 0 (each row
# reverses only its valid prefix and starts from its initial state), "bidirectional"
# does both; direction 0 is forward, direction 1 reverse. Y[t] is always the output
# computed at input step t; Y is zero at t >= len. Y_h/Y_c hold the state after each
# row's last step (step len-1 forward, step 0 reverse); a row with len == 0 keeps its
# initial state. This is the time loop ``_run_direction`` used by ``lstm``/``gru`` above.
#
# Where onnxruntime 1.32 (CPU) differs from the ONNX text, this reference keeps to the
# text (tests/test_reference_onnx.py measures each difference):
#
# * activation defaults: onnxruntime uses 0 for the alpha/beta that ONNX defaults to
#   other values for Affine (1, 0), ThresholdedRelu (1) and ScaledTanh (1, 1); its
#   LeakyRelu, HardSigmoid and Elu defaults agree with ONNX.
# * ThresholdedRelu: the RNN operators' text says ``x if x >= alpha``, onnxruntime (and
#   the standalone ThresholdedRelu operator) ``x if x > alpha``; only x == alpha differs.
# * sequence_lens 0: the text says nothing; here the row keeps its initial state (as a
#   packed PyTorch sequence does), onnxruntime returns zeros in Y_h and Y_c.
# * onnxruntime also rejects layout=1, 3 (GRU: 2) activation names for "bidirectional",
#   and ignores left-over activation_alpha/beta values; Softplus overflows to inf for
#   inputs above ~88.7 (float32 exp) where log(1 + e^x) is finite.


class OnnxActivationSlot(NamedTuple):
    """One activation slot of an ONNX RNN operator: canonical name and its parameters.

    ``alpha``/``beta`` are floats for functions that take them and None otherwise
    (:func:`onnx_activation_slots` makes them).

    Example::

        >>> slot = gatedrnn.reference.OnnxActivationSlot("HardSigmoid", 0.2, 0.5)
        >>> gatedrnn.reference.onnx_activation([-5.0, 0.0], slot.name, slot.alpha, slot.beta)
        array([0. , 0.5])
    """

    name: str
    alpha: Optional[float]
    beta: Optional[float]


#: The activation functions of the ONNX RNN operators, canonical spelling ->
#: ``(default alpha, default beta)``; None means the function takes no such parameter.
#: The defaults are those of the ONNX operators of the same name (ScaledTanh, which has
#: no operator of its own any more, uses alpha = beta = 1).
ONNX_ACTIVATIONS: Dict[str, Tuple[Optional[float], Optional[float]]] = {
    "Relu": (None, None),
    "Tanh": (None, None),
    "Sigmoid": (None, None),
    "Affine": (1.0, 0.0),
    "LeakyRelu": (0.01, None),
    "ThresholdedRelu": (1.0, None),
    "ScaledTanh": (1.0, 1.0),
    "HardSigmoid": (0.2, 0.5),
    "Elu": (1.0, None),
    "Softsign": (None, None),
    "Softplus": (None, None),
}

_ONNX_ACTIVATION_BY_LOWER = {name.lower(): name for name in ONNX_ACTIVATIONS}

# Default activations of one direction: LSTM (f, g, h), GRU (f, g).
_ONNX_DEFAULT_ACTIVATIONS = {3: ("Sigmoid", "Tanh", "Tanh"), 2: ("Sigmoid", "Tanh")}


def _onnx_float_list(name: str, values: Any) -> List[float]:
    """An ONNX float-list attribute (None: empty) as a list of Python floats."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise TypeError(f"{name}: expected a 1-D sequence of floats or None, got {values!r}")
    arr = np.asarray(values)
    if arr.size and arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected floats, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite values, got {arr.tolist()}")
    out: List[float] = arr.tolist()
    return out


def onnx_activation_slots(
    activations: Optional[Sequence[str]],
    alpha: Optional[Sequence[float]],
    beta: Optional[Sequence[float]],
    count: int,
    *,
    num_directions: int = 1,
    strict: bool = True,
) -> List[OnnxActivationSlot]:
    """Resolve ONNX ``activations``/``activation_alpha``/``activation_beta`` attributes.

    Args:
        activations: None (the operator's defaults: LSTM Sigmoid, Tanh, Tanh; GRU
            Sigmoid, Tanh) or a sequence of names, case-insensitive, from
            ``ONNX_ACTIVATIONS``; either ``count`` names (used by every direction) or
            ``count * num_directions`` names (forward's, then reverse's).
        alpha, beta: None or sequences of floats, consumed in order by the listed
            functions that take an alpha (resp. a beta): Affine, LeakyRelu,
            ThresholdedRelu, ScaledTanh, HardSigmoid, Elu (alpha); Affine, ScaledTanh,
            HardSigmoid (beta). When a list is missing or runs short, the remaining
            functions use their ONNX defaults (``ONNX_ACTIVATIONS``). Values left over
            at the end are an error if ``strict``, else ignored (as onnxruntime does).
        count: activations per direction: 3 for LSTM (f, g, h), 2 for GRU (f, g).
        num_directions: 1, or 2 for bidirectional.
        strict: reject left-over alpha/beta values (default) or ignore them.

    Returns:
        A list of ``count * num_directions`` ``OnnxActivationSlot(name, alpha, beta)``,
        slot ``d * count + k`` for direction ``d``; names in canonical spelling,
        ``alpha``/``beta`` None for functions that do not take them. When ``count``
        names are given for two directions, the resolved slots (parameters included)
        are repeated for the reverse direction.

    Raises:
        ValueError: wrong number of names, unknown name, left-over alpha/beta values
            (``strict`` only), a ``count`` other than 2 or 3, ``num_directions`` other
            than 1 or 2, non-finite alpha/beta.
        TypeError: names that are not strings, alpha/beta that are not numbers.

    Example::

        >>> gatedrnn.reference.onnx_activation_slots(["HardSigmoid", "tanh"], [0.1], None, 2)
        [OnnxActivationSlot(name='HardSigmoid', alpha=0.1, beta=0.5),
         OnnxActivationSlot(name='Tanh', alpha=None, beta=None)]
    """
    if count not in _ONNX_DEFAULT_ACTIVATIONS:
        raise ValueError(f"count: expected 3 (LSTM) or 2 (GRU), got {count!r}")
    if num_directions not in (1, 2):
        raise ValueError(f"num_directions: expected 1 or 2, got {num_directions!r}")
    alphas = _onnx_float_list("activation_alpha", alpha)
    betas = _onnx_float_list("activation_beta", beta)
    if activations is None:
        names = list(_ONNX_DEFAULT_ACTIVATIONS[count])
    elif isinstance(activations, (str, bytes)):
        raise TypeError(
            f"activations: expected a sequence of names, got the string {activations!r}"
        )
    else:
        names = list(activations)
    allowed = sorted({count, count * num_directions})
    if len(names) not in allowed:
        expected = " or ".join(str(n) for n in allowed)
        raise ValueError(f"activations: expected {expected} names, got {len(names)}: {names!r}")

    slots: List[OnnxActivationSlot] = []
    for k, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"activations[{k}]: expected a str, got {type(name).__name__}")
        canonical = _ONNX_ACTIVATION_BY_LOWER.get(name.lower())
        if canonical is None:
            raise ValueError(
                f"activations[{k}]: unknown activation {name!r}; expected one of "
                f"{list(ONNX_ACTIVATIONS)} (case-insensitive)"
            )
        default_alpha, default_beta = ONNX_ACTIVATIONS[canonical]
        a: Optional[float] = None
        b: Optional[float] = None
        if default_alpha is not None:
            a = alphas.pop(0) if alphas else default_alpha
        if default_beta is not None:
            b = betas.pop(0) if betas else default_beta
        slots.append(OnnxActivationSlot(canonical, a, b))
    for attr, left in (("activation_alpha", alphas), ("activation_beta", betas)):
        if left and strict:
            raise ValueError(
                f"{attr}: {len(left)} value(s) left over {left} after the activations "
                f"{[s.name for s in slots]} consumed theirs"
            )
    if len(slots) == count and num_directions == 2:
        slots = slots + slots
    return slots


def onnx_activation(x: npt.ArrayLike, name: str, alpha: Optional[float] = None,
                    beta: Optional[float] = None) -> _F64:
    """Apply the ONNX RNN activation ``name`` (case-insensitive) elementwise, in float64.

    Missing ``alpha``/``beta`` take the ONNX defaults of ``ONNX_ACTIVATIONS``::

        Relu            max(0, x)
        Tanh            tanh(x)
        Sigmoid         1 / (1 + exp(-x))
        Affine          alpha * x + beta
        LeakyRelu       x if x >= 0 else alpha * x
        ThresholdedRelu x if x >= alpha else 0   (the RNN operators' text; the
                        standalone ThresholdedRelu operator and onnxruntime use x > alpha)
        ScaledTanh      alpha * tanh(beta * x)
        HardSigmoid     min(max(alpha * x + beta, 0), 1)
        Elu             x if x >= 0 else alpha * (exp(x) - 1)
        Softsign        x / (1 + |x|)
        Softplus        log(1 + exp(x))

    Args:
        x: a real scalar or array.
        name: the function (``ONNX_ACTIVATIONS``' names, any case).
        alpha, beta: its parameters (ignored by functions without them).

    Returns:
        float64, x's shape.

    Raises:
        ValueError: an unknown ``name``.
        TypeError: x is not real.

    Example::

        >>> gatedrnn.reference.onnx_activation([-1.0, 0.5, 2.0], "LeakyRelu", alpha=0.1)
        array([-0.1,  0.5,  2. ])
    """
    if not isinstance(name, str) or name.lower() not in _ONNX_ACTIVATION_BY_LOWER:
        raise ValueError(f"name: expected one of {list(ONNX_ACTIVATIONS)}, got {name!r}")
    canonical = _ONNX_ACTIVATION_BY_LOWER[name.lower()]
    default_alpha, default_beta = ONNX_ACTIVATIONS[canonical]
    # NaN: the function takes no such parameter (and never reads it).
    a = float(default_alpha if alpha is None else alpha) if default_alpha is not None else np.nan
    b = float(default_beta if beta is None else beta) if default_beta is not None else np.nan
    x = _as_float64("x", x)
    with np.errstate(over="ignore", under="ignore"):
        if canonical == "Relu":
            return np.maximum(x, 0.0)
        if canonical == "Tanh":
            return tanh(x)
        if canonical == "Sigmoid":
            return sigmoid(x)
        if canonical == "Affine":
            return a * x + b
        if canonical == "LeakyRelu":
            return np.where(x >= 0, x, a * x)
        if canonical == "ThresholdedRelu":
            return np.where(x >= a, x, 0.0)
        if canonical == "ScaledTanh":
            return a * np.tanh(b * x)
        if canonical == "HardSigmoid":
            return np.clip(a * x + b, 0.0, 1.0)
        if canonical == "Elu":
            return np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0.0)))
        if canonical == "Softsign":
            return x / (1.0 + np.abs(x))
        return np.logaddexp(0.0, x)  # Softplus: log(1 + exp(x)) without overflow


def _onnx_slot_function(slot: OnnxActivationSlot) -> Callable[[_F64], _F64]:
    return lambda v: onnx_activation(v, slot.name, slot.alpha, slot.beta)


class _OnnxOperands(NamedTuple):
    """Checked operands of one ONNX RNN call, converted to layout 0 and float64."""

    x: _F64  # (T, B, I)
    w: _F64  # (D, G*H, I)
    r: _F64  # (D, G*H, H)
    b: _F64  # (D, 2*G*H), zeros when absent
    lengths: _I64  # (B,)
    states: Tuple[_F64, ...]  # initial states, each (D, B, H), zeros when absent
    hidden_size: int
    num_dirs: int
    clip: Optional[float]
    layout: int  # 0 or 1: the layout of the outputs to return


_ONNX_DIRECTIONS = ("forward", "reverse", "bidirectional")


def _onnx_flag(name: str, value: object) -> int:
    """An ONNX 0/1 integer attribute."""
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, (int, np.integer)) and value in (0, 1)
    ):
        return int(value)
    raise ValueError(f"{name}: expected 0 or 1, got {value!r}")


def _onnx_operands(gates: int, X: npt.ArrayLike, W: npt.ArrayLike, R: npt.ArrayLike, B: Optional[npt.ArrayLike],
                   sequence_lens: Optional[npt.ArrayLike],
                   states: Sequence[Tuple[str, Optional[npt.ArrayLike]]], *, hidden_size: Optional[int],
                   direction: str, clip: Optional[float], layout: int) -> _OnnxOperands:
    """Check shapes, dtypes and attributes shared by ``onnx_lstm`` and ``onnx_gru``.

    ``states`` is a tuple of ``(argument name, array or None)`` for the initial states.
    """
    if direction not in _ONNX_DIRECTIONS:
        raise ValueError(f"direction: expected one of {_ONNX_DIRECTIONS}, got {direction!r}")
    num_dirs = 2 if direction == "bidirectional" else 1
    layout = _onnx_flag("layout", layout)
    if clip is not None:
        if isinstance(clip, (bool, np.bool_)) or not isinstance(clip, (int, float, np.number)):
            raise TypeError(f"clip: expected a float > 0 or None, got {clip!r}")
        clip = float(clip)
        if not clip > 0:  # also rejects NaN
            raise ValueError(f"clip: expected a float > 0 or None, got {clip!r}")

    X = _as_float64("X", X)
    if X.ndim != 3:
        raise ValueError(
            f"X: expected a 3-D array {'(B, T, I)' if layout else '(T, B, I)'} "
            f"(layout={layout}), got shape {X.shape}"
        )
    if layout:
        X = X.transpose(1, 0, 2)  # (B, T, I) -> (T, B, I)
    num_steps, batch, input_size = X.shape

    R = _as_float64("R", R)
    if R.ndim != 3 or R.shape[-1] == 0:
        raise ValueError(
            f"R: expected shape ({num_dirs}, {gates}*hidden_size, hidden_size), got {R.shape}"
        )
    hidden = R.shape[-1]
    if hidden_size is not None:
        if isinstance(hidden_size, (bool, np.bool_)) or not isinstance(
            hidden_size, (int, np.integer)
        ):
            raise TypeError(f"hidden_size: expected an int or None, got {hidden_size!r}")
        if hidden_size != hidden:
            raise ValueError(
                f"hidden_size: {hidden_size} does not match R of shape {R.shape} "
                f"(expected ({num_dirs}, {gates * hidden_size}, {hidden_size}))"
            )
    if R.shape != (num_dirs, gates * hidden, hidden):
        raise ValueError(
            f"R: expected shape {(num_dirs, gates * hidden, hidden)} (direction={direction!r}, "
            f"hidden_size={hidden}), got {R.shape}"
        )
    W = _as_float64("W", W)
    if W.shape != (num_dirs, gates * hidden, input_size):
        raise ValueError(
            f"W: expected shape {(num_dirs, gates * hidden, input_size)} (direction="
            f"{direction!r}, hidden_size={hidden}, input_size={input_size}), got {W.shape}"
        )
    if B is None:
        B = np.zeros((num_dirs, 2 * gates * hidden))
    else:
        B = _as_float64("B", B)
        if B.shape != (num_dirs, 2 * gates * hidden):
            raise ValueError(
                f"B: expected shape {(num_dirs, 2 * gates * hidden)} ([Wb, Rb] per direction), "
                f"got {B.shape}"
            )

    if sequence_lens is None:
        lengths = np.full(batch, num_steps, dtype=np.int64)
    else:
        lengths = np.asarray(sequence_lens)
        if lengths.dtype.kind not in "iu" and lengths.size:
            raise TypeError(f"sequence_lens: expected integers, got dtype {lengths.dtype}")
        if lengths.shape != (batch,):
            raise ValueError(
                f"sequence_lens: expected shape ({batch},) (batch size), got {lengths.shape}"
            )
        if lengths.size and (lengths.min() < 0 or lengths.max() > num_steps):
            raise ValueError(
                f"sequence_lens: expected 0 <= len <= T={num_steps}, got values in "
                f"[{lengths.min()}, {lengths.max()}]"
            )
        lengths = lengths.astype(np.int64)

    state_shape = (batch, num_dirs, hidden) if layout else (num_dirs, batch, hidden)
    checked: List[_F64] = []
    for name, s in states:
        if s is None:
            checked.append(np.zeros((num_dirs, batch, hidden)))
            continue
        s = _as_float64(name, s)
        if s.shape != state_shape:
            raise ValueError(
                f"{name}: expected shape {state_shape} (layout={layout}), got {s.shape}"
            )
        checked.append(s.transpose(1, 0, 2) if layout else s)
    return _OnnxOperands(X, W, R, B, lengths, tuple(checked), hidden, num_dirs, clip, layout)


def _onnx_clip(v: _F64, clip: Optional[float]) -> _F64:
    """Clamp ``v`` to ``[-clip, clip]`` (no-op when ``clip`` is None)."""
    return v if clip is None else np.clip(v, -clip, clip)


def _onnx_outputs(per_direction: Sequence[Tuple[_F64, Tuple[_F64, ...]]], layout: int) -> Tuple[_F64, ...]:
    """Stack per-direction ``(y (T,B,H), final states...)`` into the ONNX outputs."""
    y = np.stack([out[0] for out in per_direction], axis=1)  # (T, D, B, H)
    finals = [
        np.stack([out[1][k] for out in per_direction], axis=0)  # (D, B, H)
        for k in range(len(per_direction[0][1]))
    ]
    if layout:
        y = y.transpose(2, 0, 1, 3)  # (B, T, D, H)
        finals = [s.transpose(1, 0, 2) for s in finals]  # (B, D, H)
    return (np.ascontiguousarray(y),) + tuple(np.ascontiguousarray(s) for s in finals)


class _OnnxLstmWeights(NamedTuple):
    """One direction of an ONNX LSTM, split per gate (H hidden, I input units)."""

    w: Dict[str, _F64]  # gate -> (H, I) input weights, gates "i", "o", "f", "c"
    r: Dict[str, _F64]  # gate -> (H, H) recurrent weights
    b: Dict[str, _F64]  # gate -> (H,)  Wb + Rb
    p: Dict[str, _F64]  # "i", "o", "f" -> (H,) peepholes


def _onnx_lstm_weights(ops: _OnnxOperands, P: _F64, d: int) -> _OnnxLstmWeights:
    gates = ("i", "o", "f", "c")
    wb, rb = np.split(ops.b[d], 2)
    return _OnnxLstmWeights(
        w=dict(zip(gates, np.split(ops.w[d], 4))),
        r=dict(zip(gates, np.split(ops.r[d], 4))),
        b=dict(zip(gates, np.split(wb + rb, 4))),
        p=dict(zip(("i", "o", "f"), np.split(P[d], 3))),
    )


def _onnx_lstm_step(w: _OnnxLstmWeights, act: Sequence[Callable[[_F64], _F64]], clip: Optional[float],
                    input_forget: int, clip_h_input: bool, x: _F64, h_prev: _F64,
                    c_prev: _F64) -> Tuple[_F64, _F64]:
    """One ONNX LSTM step for a batch of rows: ``(x (b, I), H (b, H), C (b, H)) -> (H', C')``.

    ``act`` are the three activation functions ``(f, g, h)``; ``clip_h_input``: whether
    ``clip`` also clamps the argument of ``h``.
    """
    f, g, h = act

    def pre(gate: str, peephole: Optional[_F64] = None) -> _F64:  # the clipped pre-activation of one gate
        v = x @ w.w[gate].T + h_prev @ w.r[gate].T + w.b[gate]
        if peephole is not None:
            v = v + w.p[gate] * peephole
        return _onnx_clip(v, clip)

    i = f(pre("i", c_prev))
    forget = 1.0 - i if input_forget else f(pre("f", c_prev))
    c = g(pre("c"))
    c_new = forget * c_prev + i * c
    o = f(pre("o", c_new))
    return o * h(_onnx_clip(c_new, clip) if clip_h_input else c_new), c_new


def onnx_lstm(
    X: npt.ArrayLike,
    W: npt.ArrayLike,
    R: npt.ArrayLike,
    B: Optional[npt.ArrayLike] = None,
    sequence_lens: Optional[npt.ArrayLike] = None,
    initial_h: Optional[npt.ArrayLike] = None,
    initial_c: Optional[npt.ArrayLike] = None,
    P: Optional[npt.ArrayLike] = None,
    *,
    hidden_size: Optional[int] = None,
    direction: str = "forward",
    activations: Optional[Sequence[str]] = None,
    activation_alpha: Optional[Sequence[float]] = None,
    activation_beta: Optional[Sequence[float]] = None,
    clip: Optional[float] = None,
    input_forget: int = 0,
    layout: int = 0,
    clip_h_input: bool = False,
) -> Tuple[_F64, _F64, _F64]:
    """The ONNX ``LSTM`` operator (opset 14+) in float64.

    Inputs and attributes are the operator's, with the same names, shapes and gate
    orders (W/R/B: i, o, f, c; P: i, o, f), see the table above. Optional inputs
    default to zeros; ``hidden_size`` is inferred from ``R`` and, if given, must match.
    ``activations`` etc. are resolved by ``onnx_activation_slots(..., count=3)``
    (``count`` names are also accepted for "bidirectional", used by both directions).

    ``clip_h_input`` is not an ONNX attribute: False (the default) clamps only the inputs
    of f and g, as onnxruntime does; True also clamps the input of h
    (``H' = o * h(clip(C'))``), the other reading of the ONNX text.

    Returns:
        ``(Y, Y_h, Y_c)`` float64: ``Y`` ``(T, D, B, H)``, ``Y_h``/``Y_c`` ``(D, B, H)``
        (layout=1: ``(B, T, D, H)`` and ``(B, D, H)``).

    Raises:
        ValueError: a wrong shape (named), an unknown direction or activation, a
            ``hidden_size`` that disagrees with R, lengths out of range, a flag other
            than 0 or 1, a ``clip`` <= 0.
        TypeError: a non-real array, non-integer ``sequence_lens`` or ``hidden_size``,
            a non-numeric ``clip``.

    Example::

        >>> X = np.random.rand(4, 2, 3)                                  # (T, B, I)
        >>> W, R = np.random.rand(1, 8, 3), np.random.rand(1, 8, 2)     # H = 2
        >>> Y, Y_h, Y_c = gatedrnn.reference.onnx_lstm(X, W, R, input_forget=1)
        >>> Y.shape, bool(np.allclose(Y, gatedrnn.onnx.lstm(X, W, R, input_forget=1)[0], atol=1e-5))
        ((4, 1, 2, 2), True)
    """
    ops = _onnx_operands(
        4, X, W, R, B, sequence_lens, (("initial_h", initial_h), ("initial_c", initial_c)),
        hidden_size=hidden_size, direction=direction, clip=clip, layout=layout,
    )
    hidden, num_dirs = ops.hidden_size, ops.num_dirs
    input_forget = _onnx_flag("input_forget", input_forget)
    if P is None:
        P = np.zeros((num_dirs, 3 * hidden))
    else:
        P = _as_float64("P", P)
        if P.shape != (num_dirs, 3 * hidden):
            raise ValueError(
                f"P: expected shape {(num_dirs, 3 * hidden)} (peepholes i, o, f per "
                f"direction), got {P.shape}"
            )
    slots = onnx_activation_slots(
        activations, activation_alpha, activation_beta, 3, num_directions=num_dirs
    )

    results: List[Tuple[_F64, Tuple[_F64, ...]]] = []
    for d in range(num_dirs):
        w = _onnx_lstm_weights(ops, P, d)
        act = tuple(_onnx_slot_function(s) for s in slots[3 * d: 3 * d + 3])

        def step(x: _F64, h: _F64, c: _F64, w: _OnnxLstmWeights = w,
                 act: Tuple[Callable[[_F64], _F64], ...] = act) -> Tuple[_F64, _F64]:
            return _onnx_lstm_step(w, act, ops.clip, input_forget, bool(clip_h_input), x, h, c)

        results.append(
            _run_direction(step, ops.x, tuple(s[d] for s in ops.states), ops.lengths,
                           reverse=direction == "reverse" or d == 1)
        )
    return _onnx_outputs(results, ops.layout)  # type: ignore[return-value]  # (Y, Y_h, Y_c)


class _OnnxGruWeights(NamedTuple):
    """One direction of an ONNX GRU, split per gate (H hidden, I input units)."""

    w: Dict[str, _F64]  # gate -> (H, I) input weights, gates "z", "r", "h"
    r: Dict[str, _F64]  # gate -> (H, H) recurrent weights
    wb: Dict[str, _F64]  # gate -> (H,) input bias
    rb: Dict[str, _F64]  # gate -> (H,) recurrent bias


def _onnx_gru_weights(ops: _OnnxOperands, d: int) -> _OnnxGruWeights:
    gates = ("z", "r", "h")
    wb, rb = np.split(ops.b[d], 2)
    return _OnnxGruWeights(
        w=dict(zip(gates, np.split(ops.w[d], 3))),
        r=dict(zip(gates, np.split(ops.r[d], 3))),
        wb=dict(zip(gates, np.split(wb, 3))),
        rb=dict(zip(gates, np.split(rb, 3))),
    )


def _onnx_gru_step(w: _OnnxGruWeights, act: Sequence[Callable[[_F64], _F64]], clip: Optional[float],
                   linear_before_reset: int, x: _F64, h_prev: _F64) -> Tuple[_F64]:
    """One ONNX GRU step for a batch of rows: ``(x (b, I), H (b, H)) -> (H',)``.

    ``act`` are the two activation functions ``(f, g)``. Returns a 1-tuple (the time
    loop expects a tuple of states).
    """
    f, g = act
    z = f(_onnx_clip(x @ w.w["z"].T + h_prev @ w.r["z"].T + w.wb["z"] + w.rb["z"], clip))
    r = f(_onnx_clip(x @ w.w["r"].T + h_prev @ w.r["r"].T + w.wb["r"] + w.rb["r"], clip))
    if linear_before_reset:
        pre = x @ w.w["h"].T + r * (h_prev @ w.r["h"].T + w.rb["h"]) + w.wb["h"]
    else:
        pre = x @ w.w["h"].T + (r * h_prev) @ w.r["h"].T + w.rb["h"] + w.wb["h"]
    h = g(_onnx_clip(pre, clip))
    return ((1.0 - z) * h + z * h_prev,)


def onnx_gru(
    X: npt.ArrayLike,
    W: npt.ArrayLike,
    R: npt.ArrayLike,
    B: Optional[npt.ArrayLike] = None,
    sequence_lens: Optional[npt.ArrayLike] = None,
    initial_h: Optional[npt.ArrayLike] = None,
    *,
    hidden_size: Optional[int] = None,
    direction: str = "forward",
    activations: Optional[Sequence[str]] = None,
    activation_alpha: Optional[Sequence[float]] = None,
    activation_beta: Optional[Sequence[float]] = None,
    clip: Optional[float] = None,
    linear_before_reset: int = 0,
    layout: int = 0,
) -> Tuple[_F64, _F64]:
    """The ONNX ``GRU`` operator (opset 14+) in float64.

    Inputs and attributes are the operator's, with the same names, shapes and gate
    orders (W/R/B: z, r, h), see the table above. Optional inputs default to zeros;
    ``hidden_size`` is inferred from ``R`` and, if given, must match. ``activations``
    etc. are resolved by ``onnx_activation_slots(..., count=2)``.

    Returns:
        ``(Y, Y_h)`` float64: ``Y`` ``(T, D, B, H)``, ``Y_h`` ``(D, B, H)`` (layout=1:
        ``(B, T, D, H)`` and ``(B, D, H)``).

    Raises:
        ValueError, TypeError: as :func:`onnx_lstm`.

    Example::

        >>> X = np.random.rand(2, 4, 3)                                  # layout 1: (B, T, I)
        >>> W, R = np.random.rand(2, 6, 3), np.random.rand(2, 6, 2)     # D = 2, H = 2
        >>> Y, Y_h = gatedrnn.reference.onnx_gru(X, W, R, direction="bidirectional", layout=1)
        >>> Y.shape, Y_h.shape
        ((2, 4, 2, 2), (2, 2, 2))
    """
    ops = _onnx_operands(
        3, X, W, R, B, sequence_lens, (("initial_h", initial_h),),
        hidden_size=hidden_size, direction=direction, clip=clip, layout=layout,
    )
    linear_before_reset = _onnx_flag("linear_before_reset", linear_before_reset)
    slots = onnx_activation_slots(
        activations, activation_alpha, activation_beta, 2, num_directions=ops.num_dirs
    )

    results: List[Tuple[_F64, Tuple[_F64, ...]]] = []
    for d in range(ops.num_dirs):
        w = _onnx_gru_weights(ops, d)
        act = tuple(_onnx_slot_function(s) for s in slots[2 * d: 2 * d + 2])

        def step(x: _F64, h: _F64, w: _OnnxGruWeights = w,
                 act: Tuple[Callable[[_F64], _F64], ...] = act) -> Tuple[_F64]:
            return _onnx_gru_step(w, act, ops.clip, linear_before_reset, x, h)

        results.append(
            _run_direction(step, ops.x, (ops.states[0][d],), ops.lengths,
                           reverse=direction == "reverse" or d == 1)
        )
    return _onnx_outputs(results, ops.layout)  # type: ignore[return-value]  # (Y, Y_h)


__all__ += [
    "ONNX_ACTIVATIONS",
    "OnnxActivationSlot",
    "onnx_activation",
    "onnx_activation_slots",
    "onnx_gru",
    "onnx_lstm",
]
