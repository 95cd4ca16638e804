"""Importer for Keras 3 recurrent layers: ``keras.layers.LSTM``, ``GRU`` and ``Bidirectional``.

Keras stores its gates along the columns of ``(in, gates * units)`` matrices; gatedrnn stores
PyTorch's ``(gates * hidden, in)`` rows. The conversion happens once, here, and the result is an
ordinary gatedrnn layer (``batch_first=True``, as Keras is batch-major).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from ._layers import GRU, LSTM, GRUCell, LSTMCell, weights_follow

Layer = Union[LSTM, GRU, LSTMCell, GRUCell]

# (ONNX activation name, alpha or None, beta or None): alpha / beta are given exactly for the
# activations that take them, so the lists handed to the layer line up with the names.
_Act = Tuple[str, Optional[float], Optional[float]]
_SIGMOID: _Act = ("Sigmoid", None, None)
_TANH: _Act = ("Tanh", None, None)

# Keras 3 activation (by its name in keras.activations / keras.ops, default arguments) -> the
# ONNX activation that computes the same function.
_KERAS_ACTIVATIONS: Dict[str, _Act] = {
    "sigmoid": _SIGMOID,
    "tanh": _TANH,
    "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0),  # also what Keras uses for activation=None
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),  # Keras 3: relu6(x + 3) / 6, not 0.2x + 0.5
    "sparse_sigmoid": ("HardSigmoid", 0.5, 0.5),  # clip((x + 1) / 2, 0, 1)
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
    "elu": ("Elu", 1.0, None),
    "leaky_relu": ("LeakyRelu", 0.2, None),  # Keras' default negative_slope
}


class _Direction(NamedTuple):
    """One Keras recurrent layer (or cell), read into gatedrnn's terms."""

    kind: str  # "lstm" or "gru"
    input_size: int
    units: int
    use_bias: bool
    reset_after: bool  # GRU only (True for an LSTM, unused)
    go_backwards: bool
    activations: Tuple[_Act, ...]  # LSTM (f, g, h); GRU (f, g)
    params: Dict[str, np.ndarray]  # weight_ih, weight_hh[, bias_ih, bias_hh] in PyTorch's order


def _qualname(obj: Any) -> str:
    return type(obj).__module__ + "." + type(obj).__qualname__


def _keras_module(layer: Any) -> Any:
    """The imported ``keras`` package if ``layer`` can be a Keras 3 object, else None.
    keras is never imported here: an object of a Keras class implies it is loaded."""
    keras = sys.modules.get("keras")
    if keras is None or not type(layer).__module__.startswith("keras."):
        return None
    return keras


def _activation(fn: Any, keras: Any, name: str) -> _Act:
    """The ONNX activation equal to the Keras activation ``fn`` (attribute ``name``)."""
    for key, act in _KERAS_ACTIVATIONS.items():
        for namespace in (keras.activations, keras.ops):
            if fn is getattr(namespace, key, None):
                return act
    label = getattr(fn, "__name__", None) or repr(fn)
    raise ValueError(
        f"{name}: Keras activation {label!r} has no exact equivalent among gatedrnn's activations; "
        f"supported: {', '.join(sorted(_KERAS_ACTIVATIONS))} (keras.activations or keras.ops, default arguments)")


def _numpy(variable: Any, keras: Any) -> np.ndarray:
    """A float32 NumPy copy of a Keras variable's value, whatever the backend."""
    value = getattr(variable, "value", variable)  # the backend tensor behind the Variable
    if hasattr(value, "detach"):
        # torch: Tensor.numpy() directly; NumPy 2 warns when it converts through __array__.
        array: np.ndarray = value.detach().cpu().float().numpy()
        return array
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float32)


def _read(layer: Any, keras: Any, name: str) -> _Direction:
    """Configuration and PyTorch-ordered weights of one Keras LSTM / GRU layer or cell."""
    kl = keras.layers
    t = type(layer)
    if t in (kl.LSTM, kl.GRU, kl.RNN):
        cell, go_backwards = layer.cell, bool(layer.go_backwards)
    elif t in (kl.LSTMCell, kl.GRUCell):
        cell, go_backwards = layer, False
    else:
        raise TypeError(f"{name}: expected keras.layers.LSTM, GRU, Bidirectional, LSTMCell, GRUCell or RNN "
                        f"of an LSTMCell / GRUCell, got {_qualname(layer)}")
    if type(cell) is kl.LSTMCell:
        kind, gates = "lstm", 4
    elif type(cell) is kl.GRUCell:
        kind, gates = "gru", 3
    else:
        raise TypeError(f"{name}: expected a keras.layers.RNN of an LSTMCell or GRUCell (one cell, not stacked), "
                        f"got a cell of type {_qualname(cell)}")
    if not layer.built or getattr(cell, "kernel", None) is None:
        raise ValueError(f"{name}: the Keras layer {layer.name!r} is not built (it has no weights yet); "
                         "call it on an input or call build(input_shape) first")

    units = int(cell.units)
    kernel = _numpy(cell.kernel, keras)  # (in, gates*units), gate blocks along the columns
    recurrent = _numpy(cell.recurrent_kernel, keras)  # (units, gates*units)
    use_bias = bool(cell.use_bias)
    reset_after = bool(getattr(cell, "reset_after", True))
    if kind == "lstm":
        # Keras i, f, c, o is PyTorch's i, f, g, o: transposing is the whole conversion.
        order = np.arange(gates * units)
    else:
        # Keras z, r, h -> PyTorch r, z, n.
        order = np.concatenate([np.arange(units, 2 * units), np.arange(units), np.arange(2 * units, 3 * units)])
    params = {
        "weight_ih": np.ascontiguousarray(kernel[:, order].T),
        "weight_hh": np.ascontiguousarray(recurrent[:, order].T),
    }
    if use_bias:
        bias = _numpy(cell.bias, keras)
        if kind == "gru" and reset_after:  # (2, 3H): row 0 input bias, row 1 recurrent bias
            params["bias_ih"], params["bias_hh"] = bias[0][order], bias[1][order]
        else:  # one bias, added outside any reset gate
            params["bias_ih"], params["bias_hh"] = bias[order], np.zeros(gates * units, np.float32)

    recurrent_act = _activation(cell.recurrent_activation, keras, f"{name}.recurrent_activation")
    act = _activation(cell.activation, keras, f"{name}.activation")
    acts = (recurrent_act, act, act) if kind == "lstm" else (recurrent_act, act)
    return _Direction(kind, int(kernel.shape[0]), units, use_bias, reset_after, go_backwards, acts, params)


def _activation_kwargs(directions: List[_Direction]) -> Dict[str, Any]:
    """``activations`` / ``activation_alpha`` / ``activation_beta`` for the layer: nothing for
    Keras' defaults (gatedrnn's fast path), one set when the directions agree, else one per
    direction (forward's, then reverse's)."""
    sets = [d.activations for d in directions]
    default = (_SIGMOID, _TANH, _TANH) if directions[0].kind == "lstm" else (_SIGMOID, _TANH)
    if all(s == default for s in sets):
        return {}
    acts = [a for s in ([sets[0]] if all(s == sets[0] for s in sets) else sets) for a in s]
    kwargs: Dict[str, Any] = {"activations": [a[0] for a in acts]}
    alpha = [a[1] for a in acts if a[1] is not None]
    beta = [a[2] for a in acts if a[2] is not None]
    if alpha:
        kwargs["activation_alpha"] = alpha
    if beta:
        kwargs["activation_beta"] = beta
    return kwargs


def _bidirectional(layer: Any, keras: Any) -> Tuple[_Direction, _Direction]:
    if layer.merge_mode != "concat":
        raise ValueError(
            f"layer: Bidirectional merge_mode={layer.merge_mode!r} is not supported; gatedrnn's bidirectional "
            "layer returns the two directions concatenated (merge_mode='concat'). For another merge, import "
            "the directions separately, from_keras(layer.forward_layer) and from_keras(layer.backward_layer): "
            "both outputs are then aligned with the input, as Keras aligns them before merging")
    fwd = _read(layer.forward_layer, keras, "layer.forward_layer")
    bwd = _read(layer.backward_layer, keras, "layer.backward_layer")
    if fwd.go_backwards or not bwd.go_backwards:
        raise ValueError("layer: expected a Bidirectional whose forward_layer has go_backwards=False and whose "
                         f"backward_layer has go_backwards=True, got {fwd.go_backwards} and {bwd.go_backwards}")
    for attr, label in (("kind", "layer type"), ("input_size", "input size"), ("units", "units"),
                        ("use_bias", "use_bias"), ("reset_after", "reset_after")):
        a, b = getattr(fwd, attr), getattr(bwd, attr)
        if a != b:
            raise ValueError(f"layer: the forward and backward layers must agree on {label} for one gatedrnn "
                             f"layer, got {a!r} (forward) and {b!r} (backward)")
    return fwd, bwd


def from_keras(layer: Any, *, num_threads: Optional[int] = None, precision: str = "fp32") -> Layer:
    """A gatedrnn layer with the configuration and weights of a built Keras 3 layer.

    Takes ``keras.layers.LSTM``, ``keras.layers.GRU`` (``reset_after`` True or False),
    ``keras.layers.RNN`` of one ``LSTMCell`` / ``GRUCell``, ``keras.layers.Bidirectional`` of
    these with ``merge_mode='concat'``, and ``keras.layers.LSTMCell`` / ``GRUCell`` (default
    activations only; they become :class:`gatedrnn.LSTMCell` / :class:`gatedrnn.GRUCell`).
    Layers return a :class:`gatedrnn.LSTM` / :class:`gatedrnn.GRU` with ``batch_first=True``.

    The conversion, done once: kernels are transposed, Keras' gate order LSTM i,f,c,o is
    PyTorch's i,f,g,o, GRU z,r,h becomes r,z,n; the LSTM bias and the ``reset_after=False``
    GRU bias become ``bias_ih`` (``bias_hh`` = 0); the ``reset_after=True`` GRU bias rows
    (input, recurrent) become ``bias_ih`` / ``bias_hh``; ``reset_after`` is
    ``linear_before_reset``; ``use_bias=False`` is ``bias=False``; ``go_backwards`` is
    ``reverse=True``. ``activation`` / ``recurrent_activation`` map to ONNX activations
    (LSTM f = recurrent_activation, g = h = activation; GRU f = recurrent_activation,
    g = activation): sigmoid, tanh, relu, linear (also ``None``) -> Affine(1, 0), Keras 3's
    hard_sigmoid relu6(x+3)/6 -> HardSigmoid(1/6, 0.5), sparse_sigmoid -> HardSigmoid(0.5, 0.5),
    softsign, softplus, elu -> Elu(1), leaky_relu -> LeakyRelu(0.2); Keras' default
    sigmoid / tanh gives ``activations=None``.

    How the outputs line up (``y``, ``h_n``, ``c_n`` from the gatedrnn layer; gatedrnn always
    returns the whole sequence and the states, whatever ``return_sequences`` /
    ``return_state`` say):

    - ``y[:, t]`` is always the output computed at input step ``x[:, t]``. Keras'
      ``return_sequences`` output equals ``y``; with ``go_backwards=True`` Keras returns its
      outputs in processing order, so it equals ``y[:, ::-1]``.
    - Keras' last output (``return_sequences=False``) is ``h_n[0]`` (``y[:, -1]``, or
      ``y[:, 0]`` with ``go_backwards``); its returned states ``h, c`` are ``h_n[0], c_n[0]``.
    - ``Bidirectional``: the sequence output equals ``y`` (Keras flips the backward layer's
      output back to time order before concatenating); the last output is
      ``concat(h_n[0], h_n[1])``; the states ``h_f, c_f, h_b, c_b`` are
      ``h_n[0], c_n[0], h_n[1], c_n[1]`` (GRU: ``h_f, h_b``).
    - ``initial_state=[h0, c0]`` of shape (B, units) is ``state=(h0[None], c0[None])``
      (GRU: ``h0[None]``); for ``Bidirectional`` stack forward's and backward's on axis 0.
      A ``stateful`` layer's state is the caller's: pass ``layer.states`` the same way.
    - A right-padded ``mask`` is ``lengths=mask.sum(1)``: the final states and the outputs at
      valid steps agree; at padded steps gatedrnn returns 0 where a plain Keras layer repeats
      its last output (a ``go_backwards`` layer, which meets the padding first, returns 0
      there too).

    Dropout and ``recurrent_dropout`` act in training only and are ignored, as are
    ``unroll``, ``use_cudnn``, ``stateful`` and initializers / regularizers / constraints.
    gatedrnn computes in float32: a float64 or mixed-precision Keras layer gives float32
    results (the weights are rounded to float32 once). ``precision`` ("fp32", "bf16" or
    "int8") is the layer's: the weights are converted once, here.

    Args:
        layer: a built Keras 3 layer, one of those above.
        num_threads: the layer's ``num_threads`` (None: :func:`gatedrnn.get_num_threads`;
            cells use the default).
        precision: "fp32", "bf16" or "int8".

    Returns:
        :class:`~gatedrnn.LSTM` / :class:`~gatedrnn.GRU` (``batch_first=True``: x is
        (B, T, I), as in Keras), or :class:`~gatedrnn.LSTMCell` /
        :class:`~gatedrnn.GRUCell`, of float32 arrays.

    Raises:
        TypeError: an object that is not one of the Keras layers above (subclasses
            included: they may change the computation).
        ValueError: a layer gatedrnn cannot run exactly: not built, a Bidirectional
            merge_mode other than 'concat' (import ``layer.forward_layer`` and
            ``layer.backward_layer`` separately and merge their aligned outputs
            yourself), directions that differ in type, units, use_bias or reset_after, an
            activation without an exact ONNX equivalent (e.g. gelu, silu, relu6), or a
            cell with non-default activations.

    Example::

        >>> import keras
        >>> k = keras.layers.LSTM(8, return_sequences=True)
        >>> x = np.random.rand(2, 5, 3).astype(np.float32)        # (B, T, I)
        >>> y_keras = k(x)                                        # (the call builds k)
        >>> g = gatedrnn.from_keras(k)
        >>> g
        LSTM(3, 8, batch_first=True)
        >>> y, (h_n, c_n) = g(x)
        >>> bool(keras.ops.all(keras.ops.isclose(y_keras, y, atol=1e-5)))
        True
    """
    keras = _keras_module(layer)
    if keras is None:
        raise TypeError("layer: expected a Keras 3 layer (keras.layers.LSTM, GRU, Bidirectional, LSTMCell or "
                        f"GRUCell), got {_qualname(layer)}")
    kl = keras.layers

    if type(layer) in (kl.LSTMCell, kl.GRUCell):
        cell = _read(layer, keras, "layer")
        if _activation_kwargs([cell]):
            raise ValueError(f"layer: gatedrnn cells use sigmoid / tanh only, got recurrent_activation and "
                             f"activation {[a[0] for a in cell.activations[:2]]}; wrap the cell in "
                             "keras.layers.RNN and import that instead")
        with weights_follow():
            if cell.kind == "lstm":
                result: Layer = LSTMCell(cell.input_size, cell.units, bias=cell.use_bias, seed=0,
                                         precision=precision)
            else:
                result = GRUCell(cell.input_size, cell.units, bias=cell.use_bias,
                                 linear_before_reset=cell.reset_after, seed=0, precision=precision)
        result.load_state_dict(cell.params)
        return result

    if type(layer) is kl.Bidirectional:
        directions = list(_bidirectional(layer, keras))
        suffixes = ["_l0", "_l0_reverse"]
    else:
        directions = [_read(layer, keras, "layer")]
        suffixes = ["_l0"]
    first = directions[0]
    kwargs: Dict[str, Any] = dict(num_layers=1, bias=first.use_bias, batch_first=True,
                                  bidirectional=len(directions) == 2, seed=0, num_threads=num_threads,
                                  precision=precision)
    if len(directions) == 1 and first.go_backwards:
        kwargs["reverse"] = True
    kwargs.update(_activation_kwargs(directions))
    with weights_follow():
        if first.kind == "lstm":
            result = LSTM(first.input_size, first.units, **kwargs)
        else:
            result = GRU(first.input_size, first.units, linear_before_reset=first.reset_after, **kwargs)
    result.load_state_dict({name + suffix: value for d, suffix in zip(directions, suffixes)
                            for name, value in d.params.items()})
    return result
