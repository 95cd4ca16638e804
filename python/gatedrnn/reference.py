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
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np

__all__ = ["sigmoid", "tanh", "lstm_cell", "gru_cell", "lstm", "gru"]

_LSTM_GATES = 4  # i, f, g, o
_GRU_GATES = 3  # r, z, n


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, elementwise, in float64.

    Numerically stable for any input: only ``exp(-|x|)``, which lies in ``[0, 1]``, is
    ever computed, so nothing overflows and no floating-point warning is raised.
    ``sigmoid(+inf) = 1``, ``sigmoid(-inf) = 0``, ``sigmoid(+-0) = 0.5``, NaN gives NaN.
    For very negative ``x`` the result keeps full relative precision (~``exp(x)``).
    """
    x = _as_float64("x", x)
    with np.errstate(under="ignore"):  # exp(-745) and below flush to (sub)normal/0: fine
        e = np.exp(-np.abs(x))
        # x >= 0: 1 / (1 + exp(-x));  x < 0: exp(x) / (1 + exp(x)). NaN takes the 2nd
        # branch and stays NaN.
        out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out[()]  # a NumPy scalar for scalar input, like np.tanh


def tanh(x):
    """Hyperbolic tangent, elementwise, in float64 (``np.tanh``, which is stable)."""
    return np.tanh(_as_float64("x", x))


# --------------------------------------------------------------------------------------
# One time step of each cell
# --------------------------------------------------------------------------------------


class _Weights(NamedTuple):
    """The parameters of one direction of one layer, or of one cell (PyTorch layouts).

    G is the number of gates (4 LSTM, 3 GRU), H the hidden size, H_out = P or H.
    Without bias the biases are zeros, so the formulas below need no special case.
    """

    w_ih: np.ndarray  # (G*H, I)      input weights, gates stacked along rows
    w_hh: np.ndarray  # (G*H, H_out)  recurrent weights
    b_ih: np.ndarray  # (G*H,)
    b_hh: np.ndarray  # (G*H,)
    w_hr: Optional[np.ndarray]  # (P, H) LSTM output projection, or None


def _lstm_step(w: _Weights, x, h, c):
    """One LSTM step for a batch of rows.

    Args:
        w: the cell's weights.
        x: ``(B, I)`` inputs at this step.
        h: ``(B, H_out)`` previous hidden state.
        c: ``(B, H)`` previous cell state.

    Returns:
        ``(h', c')`` with shapes ``(B, H_out)`` and ``(B, H)``.
    """
    gates = x @ w.w_ih.T + w.b_ih + h @ w.w_hh.T + w.b_hh  # (B, 4H)
    i, f, g, o = np.split(gates, _LSTM_GATES, axis=1)  # each (B, H)
    i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
    c_new = f * c + i * g
    h_new = o * tanh(c_new)
    if w.w_hr is not None:
        h_new = h_new @ w.w_hr.T  # project H -> P; the cell state c keeps size H
    return h_new, c_new


def _gru_step(w: _Weights, x, h, *, linear_before_reset: bool):
    """One GRU step for a batch of rows.

    Args:
        w: the cell's weights (``w.w_hr`` is None: a GRU has no projection).
        x: ``(B, I)`` inputs at this step.
        h: ``(B, H)`` previous hidden state.
        linear_before_reset: where the reset gate is applied in the candidate ``n``:
            True  -> ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` (PyTorch);
            False -> ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)`` (original GRU).

    Returns:
        A 1-tuple ``(h',)`` with ``h'`` of shape ``(B, H)`` (a tuple, like the LSTM's
        ``(h', c')``, so both cells share the time loop).
    """
    x_r, x_z, x_n = np.split(x @ w.w_ih.T + w.b_ih, _GRU_GATES, axis=1)  # each (B, H)
    # Recurrent weights/biases of each gate (not to be confused with the LSTM's
    # projection weight_hr: here "hr" is the reset gate's recurrent part).
    w_hr, w_hz, w_hn = np.split(w.w_hh, _GRU_GATES, axis=0)  # each (H, H)
    b_hr, b_hz, b_hn = np.split(w.b_hh, _GRU_GATES)  # each (H,)

    r = sigmoid(x_r + h @ w_hr.T + b_hr)
    z = sigmoid(x_z + h @ w_hz.T + b_hz)
    if linear_before_reset:
        n = tanh(x_n + r * (h @ w_hn.T + b_hn))
    else:
        n = tanh(x_n + (r * h) @ w_hn.T + b_hn)
    return ((1.0 - z) * n + z * h,)


# --------------------------------------------------------------------------------------
# The time loop (one direction of one layer) and the layer stack
# --------------------------------------------------------------------------------------

# step(x_t, *state) -> new state tuple; element 0 is the hidden state h (the output).
_Step = Callable[..., Tuple[np.ndarray, ...]]


def _run_direction(step: _Step, x, state, lengths, *, reverse: bool):
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


def _run_layers(make_step: Callable[[_Weights], _Step], weights, x, state0, lengths):
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
        outputs = []
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


def _as_float64(name: str, a) -> np.ndarray:
    """``a`` as a float64 array; TypeError for non-real dtypes (str, object, complex)."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def _load_weights(sd, suffix, gates, input_size, hidden_size, has_bias, proj_size, used):
    """Read one direction's weights (keys ``weight_ih{suffix}``, ...) and check shapes."""

    def get(name, shape):
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


def _hidden_size(sd, key, gates):
    """Hidden size and input size from ``sd[key]`` (a ``weight_ih``: ``(G*H, I)``)."""
    w = _as_float64(f"state_dict key {key!r}", sd[key])
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[0] % gates:
        raise ValueError(
            f"state_dict key {key!r}: expected shape ({gates}*hidden_size, input_size), "
            f"got {w.shape}"
        )
    return w.shape[0] // gates, w.shape[1]


def _check_no_extra_keys(sd, used):
    extra = sorted(set(sd) - used)
    if extra:
        raise ValueError(f"state_dict: unexpected keys {extra}")


class _Network(NamedTuple):
    weights: list  # weights[layer][direction] -> _Weights
    input_size: int
    hidden_size: int
    proj_size: int  # 0: no projection
    num_layers: int
    num_dirs: int

    @property
    def out_size(self) -> int:
        return self.proj_size or self.hidden_size


def _parse_layers(state_dict, gates: int, *, allow_proj: bool) -> _Network:
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

    used: set = set()
    weights = []
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


def _parse_cell(state_dict, gates: int) -> _Weights:
    """Read a cell's state dict (``weight_ih``, ``weight_hh``, optional biases)."""
    sd = dict(state_dict)
    if "weight_ih" not in sd:
        raise ValueError("state_dict key 'weight_ih': missing")
    hidden, input_size = _hidden_size(sd, "weight_ih", gates)
    used: set = set()
    w = _load_weights(sd, "", gates, input_size, hidden, "bias_ih" in sd, 0, used)
    _check_no_extra_keys(sd, used)
    return w


def _prepare_sequence(x, input_size, batch_first, lengths):
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


def _prepare_state(name, s, num_states, batch, size, unbatched):
    """Initial state as ``(num_states, B, size)`` float64 (zeros when ``s`` is None)."""
    if s is None:
        return np.zeros((num_states, batch, size))
    s = _as_float64(name, s)
    expected = (num_states, size) if unbatched else (num_states, batch, size)
    if s.shape != expected:
        raise ValueError(f"{name}: expected shape {expected}, got {s.shape}")
    return s[:, None, :] if unbatched else s


def _finish_output(y, batch_first, unbatched):
    if unbatched:
        return np.ascontiguousarray(y[:, 0])
    return np.ascontiguousarray(y.transpose(1, 0, 2)) if batch_first else y


def _finish_state(s, unbatched):
    return np.ascontiguousarray(s[:, 0]) if unbatched else s


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def lstm(x, state_dict, state=None, *, batch_first=False, lengths=None):
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

    Returns:
        ``(y, (h_n, c_n))`` as float64 arrays: ``y`` is ``(T, B, D*H_out)`` (or
        ``(B, T, D*H_out)``, or ``(T, D*H_out)``), the states are shaped like ``state``.
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

    def make_step(w):
        return lambda x_t, h, c: _lstm_step(w, x_t, h, c)

    y, (h_n, c_n) = _run_layers(make_step, net.weights, x, (h0, c0), lengths)
    return _finish_output(y, batch_first, unbatched), (
        _finish_state(h_n, unbatched),
        _finish_state(c_n, unbatched),
    )


def gru(x, state_dict, h0=None, *, batch_first=False, lengths=None, linear_before_reset=True):
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

    Returns:
        ``(y, h_n)`` as float64 arrays: ``y`` is ``(T, B, D*H)`` (or ``(B, T, D*H)``,
        or ``(T, D*H)``), ``h_n`` is shaped like ``h0``.
    """
    net = _parse_layers(state_dict, _GRU_GATES, allow_proj=False)
    x, lengths, unbatched = _prepare_sequence(x, net.input_size, batch_first, lengths)
    num_states, batch = net.num_layers * net.num_dirs, x.shape[1]
    h0 = _prepare_state("h0", h0, num_states, batch, net.hidden_size, unbatched)

    def make_step(w):
        return lambda x_t, h: _gru_step(w, x_t, h, linear_before_reset=linear_before_reset)

    y, (h_n,) = _run_layers(make_step, net.weights, x, (h0,), lengths)
    return _finish_output(y, batch_first, unbatched), _finish_state(h_n, unbatched)


def _prepare_cell_input(x, input_size):
    x = _as_float64("x", x)
    if x.ndim not in (1, 2) or x.shape[-1] != input_size:
        raise ValueError(
            f"x: expected shape (B, {input_size}) or ({input_size},) (input_size={input_size}), "
            f"got {x.shape}"
        )
    return (x[None, :], True) if x.ndim == 1 else (x, False)


def _prepare_cell_state(name, s, batch, size, unbatched):
    if s is None:
        return np.zeros((batch, size))
    s = _as_float64(name, s)
    expected = (size,) if unbatched else (batch, size)
    if s.shape != expected:
        raise ValueError(f"{name}: expected shape {expected}, got {s.shape}")
    return s[None, :] if unbatched else s


def lstm_cell(x, state_dict, state=None):
    """One LSTM step, like ``torch.nn.LSTMCell``.

    Args:
        x: ``(B, I)`` or unbatched ``(I,)``.
        state_dict: ``weight_ih`` ``(4H, I)``, ``weight_hh`` ``(4H, H)`` and optionally
            ``bias_ih``, ``bias_hh`` ``(4H,)``.
        state: ``(h, c)``, each ``(B, H)`` (unbatched ``(H,)``), or None (zeros).

    Returns:
        ``(h', c')`` float64, each shaped like ``h``.
    """
    w = _parse_cell(state_dict, _LSTM_GATES)
    hidden = w.w_hh.shape[1]
    x, unbatched = _prepare_cell_input(x, w.w_ih.shape[1])
    if state is None:
        state = (None, None)
    elif not isinstance(state, (tuple, list)) or len(state) != 2:
        raise TypeError(f"state: expected a (h, c) tuple or None, got {type(state).__name__}")
    h = _prepare_cell_state("state[0] (h)", state[0], x.shape[0], hidden, unbatched)
    c = _prepare_cell_state("state[1] (c)", state[1], x.shape[0], hidden, unbatched)
    h, c = _lstm_step(w, x, h, c)
    return (h[0], c[0]) if unbatched else (h, c)


def gru_cell(x, state_dict, h=None, *, linear_before_reset=True):
    """One GRU step, like ``torch.nn.GRUCell`` (``linear_before_reset=True``).

    Args:
        x: ``(B, I)`` or unbatched ``(I,)``.
        state_dict: ``weight_ih`` ``(3H, I)``, ``weight_hh`` ``(3H, H)`` and optionally
            ``bias_ih``, ``bias_hh`` ``(3H,)``.
        h: ``(B, H)`` (unbatched ``(H,)``) or None (zeros).
        linear_before_reset: see the module docstring.

    Returns:
        ``h'`` float64, shaped like ``h``.
    """
    w = _parse_cell(state_dict, _GRU_GATES)
    x, unbatched = _prepare_cell_input(x, w.w_ih.shape[1])
    h = _prepare_cell_state("h", h, x.shape[0], w.w_hh.shape[1], unbatched)
    (h,) = _gru_step(w, x, h, linear_before_reset=linear_before_reset)
    return h[0] if unbatched else h
