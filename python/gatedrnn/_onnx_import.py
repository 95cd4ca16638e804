"""Importer of ONNX LSTM and GRU nodes: ``gatedrnn.from_onnx``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Union

import numpy as np

from ._layers import GRU, LSTM, PathLike
from .onnx import _build_layer

if TYPE_CHECKING:
    import onnx  # the onnx package (an absolute import: not gatedrnn.onnx)

__all__ = ["from_onnx"]

_RNN_OPS = ("LSTM", "GRU")
_ONNX_DOMAINS = ("", "ai.onnx")
_MIN_OPSET = 7  # LSTM/GRU-7: the operators as they are today, minus layout (14)
_LAYOUT_OPSET = 14
# Node inputs by position, and which ones must be constant (they become the weights).
_INPUTS = {
    "LSTM": ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"),
    "GRU": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
}
_WEIGHTS = ("W", "R", "B", "P")
_ATTRIBUTES = {
    "LSTM": ("activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size",
             "input_forget", "layout"),
    "GRU": ("activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size",
            "linear_before_reset", "layout"),
}


def _load_model(model_or_path: Union[onnx.ModelProto, PathLike, bytes, bytearray, memoryview]) -> onnx.ModelProto:
    try:
        import onnx  # the onnx package (an absolute import: not gatedrnn.onnx)
    except ImportError as exc:
        raise ImportError(f"from_onnx needs the onnx package (pip install onnx): {exc}") from None

    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    if isinstance(model_or_path, (bytes, bytearray, memoryview)):
        try:
            return onnx.load_model_from_string(bytes(model_or_path))
        except Exception as exc:
            raise ValueError(f"model_or_path: the bytes are not a serialized ONNX model: {exc}") from None
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.isfile(path):
            raise ValueError(f"model_or_path: no such file: {path!r}")
        try:
            return onnx.load(path)
        except Exception as exc:
            raise ValueError(f"model_or_path: {path!r} is not a readable ONNX model: {exc}") from None
    raise TypeError("model_or_path: expected an onnx.ModelProto, a path (str or os.PathLike) or bytes, got "
                    + type(model_or_path).__name__)


def _opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in _ONNX_DOMAINS:
            return int(entry.version)
    raise ValueError("model_or_path: the model imports no version of the default ONNX domain (opset_import)")


def _node_label(node: onnx.NodeProto, index: int) -> str:
    return f"{node.op_type} node {node.name!r}" if node.name else f"{node.op_type} node #{index} (unnamed)"


def _select_node(graph: onnx.GraphProto, node: Any) -> Tuple[onnx.NodeProto, str]:
    """(node, label) of the LSTM/GRU node asked for."""
    candidates = [n for n in graph.node if n.op_type in _RNN_OPS and n.domain in _ONNX_DOMAINS]
    labels = [_node_label(n, k) for k, n in enumerate(candidates)]
    if node is None:
        if len(candidates) == 1:
            return candidates[0], labels[0]
        if not candidates:
            ops = sorted({n.op_type for n in graph.node})
            raise ValueError("model_or_path: the graph has no LSTM or GRU node "
                             f"(its operators: {', '.join(ops) or 'none'})")
        raise ValueError(f"node: the graph has {len(candidates)} LSTM/GRU nodes ({'; '.join(labels)}); choose one with "
                         "node=<name> or node=<index among them, 0-based>")
    if isinstance(node, str):
        for n, label in zip(candidates, labels):
            if n.name == node:
                return n, label
        others = [n.name for n in graph.node if n.name == node]
        if others:
            raise ValueError(f"node: {node!r} is not an LSTM or GRU node")
        raise ValueError(f"node: no LSTM/GRU node named {node!r}; the graph has: {'; '.join(labels) or 'none'}")
    if isinstance(node, (int, np.integer)) and not isinstance(node, (bool, np.bool_)):
        if not -len(candidates) <= node < len(candidates):
            raise ValueError(f"node: index {int(node)} out of range; the graph has {len(candidates)} LSTM/GRU node(s)"
                             + (f" ({'; '.join(labels)})" if labels else ""))
        k = int(node) % len(candidates)
        return candidates[k], labels[k]
    raise TypeError(f"node: expected None, a node name (str) or an index (int), got {type(node).__name__}")


def _constants(graph: onnx.GraphProto) -> Dict[str, Union[onnx.TensorProto, onnx.NodeProto]]:
    """Values known before the graph runs: initializers and Constant node outputs (the
    arrays are decoded lazily, by ``_constant_value``)."""
    values: Dict[str, Union[onnx.TensorProto, onnx.NodeProto]] = {t.name: t for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.domain in _ONNX_DOMAINS and len(n.output) == 1:
            values[n.output[0]] = n
    # A graph input of the same name overrides an initializer (ONNX: the initializer is
    # only its default): such a tensor is not a constant.
    for inp in graph.input:
        values.pop(inp.name, None)
    return values


def _constant_value(item: Union[onnx.TensorProto, onnx.NodeProto]) -> np.ndarray:
    from onnx import helper, numpy_helper

    if hasattr(item, "op_type"):  # a Constant node
        if len(item.attribute) != 1:
            raise ValueError("a Constant node needs exactly one value attribute")
        attr = item.attribute[0]
        if attr.name == "value":
            tensor: np.ndarray = numpy_helper.to_array(attr.t)
            return tensor
        if attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
            return np.asarray(helper.get_attribute_value(attr))
        raise ValueError(f"Constant node with {attr.name!r} holds no numeric tensor")
    initializer: np.ndarray = numpy_helper.to_array(item)
    return initializer


def _attributes(node: onnx.NodeProto, op: str, opset: int, label: str) -> Dict[str, Any]:
    from onnx import helper

    attrs: Dict[str, Any] = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, list):
            value = [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
        attrs[a.name] = value
    unknown = sorted(set(attrs) - set(_ATTRIBUTES[op]))
    if unknown:
        raise ValueError(f"{label}: unknown attribute(s) {', '.join(unknown)} for {op} (opset {opset})")
    if "layout" in attrs and opset < _LAYOUT_OPSET:
        raise ValueError(f"{label}: attribute layout exists from opset {_LAYOUT_OPSET}; "
                         f"the model imports opset {opset}")
    return attrs


def from_onnx(
    model_or_path: Union[onnx.ModelProto, PathLike, bytes, bytearray, memoryview],
    node: Union[None, str, int] = None,
    *,
    num_threads: Optional[int] = None,
    precision: str = "fp32",
) -> Union[LSTM, GRU]:
    """A gatedrnn layer computing one ONNX ``LSTM`` or ``GRU`` node of a model.

    Args:
        model_or_path: an ``onnx.ModelProto``, the path of a ``.onnx`` file, or its bytes.
        node: which LSTM/GRU node: None (the graph must have exactly one), its name (str),
            or its index among the graph's LSTM/GRU nodes in graph order (int).
        num_threads: passed to the layer.
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"``, passed to the layer (weights converted once).

    Returns:
        :class:`gatedrnn.LSTM` or :class:`gatedrnn.GRU` (one layer; ``bidirectional`` for
        ``direction="bidirectional"``, ``reverse`` for "reverse"; ``batch_first`` for
        ``layout=1``). For the node's input ``X`` (time-major, or batch-major for layout 1),
        ``y, (h_n, c_n) = layer(X, (initial_h, initial_c), lengths=sequence_lens)`` gives
        the node's outputs as PyTorch lays them out::

            y   = Y.transpose(0, 2, 1, 3).reshape(T, B, D*H)    (layout 0; Y is (T, D, B, H))
            y   = Y.reshape(B, T, D*H)                          (layout 1; Y is (B, T, D, H))
            h_n = Y_h, c_n = Y_c                                (D, B, H) (layout 1: transposed)

        (GRU: ``y, h_n = layer(X, initial_h, lengths=sequence_lens)``.) One exception: a row
        with no steps (sequence length 0, or T = 0) keeps its initial state in h_n / c_n
        (PyTorch's rule), where onnxruntime puts zeros (:func:`gatedrnn.onnx.lstm` and
        :func:`~gatedrnn.onnx.gru` follow onnxruntime).

    The conversion, done once here:

    - W, R (D, G*H, ...) and B (D, 2*G*H) = [Wb, Rb] become ``weight_ih_l0``,
      ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0`` (``_reverse`` for direction 1), gate
      blocks reordered from ONNX's LSTM i, o, f, c to i, f, g, o and GRU z, r, h to r, z, n.
      No B: ``bias=False``.
    - LSTM P (D, 3H), order i, o, f, becomes ``peephole_l0[_reverse]`` in order i, f, o.
    - Attributes: ``hidden_size`` (checked against R), ``direction``, ``activations`` with
      ``activation_alpha`` / ``activation_beta`` (onnxruntime's defaults for missing values,
      written out explicitly), ``clip``, ``input_forget``, ``linear_before_reset``
      (GRU; the layer's ``linear_before_reset``, ONNX's default 0 = False), ``layout``.

    W, R, B and P must be constants of the graph (initializers or Constant node outputs);
    ``sequence_lens``, ``initial_h`` and ``initial_c`` are not part of the layer: pass them
    at call time (``lengths=``, ``state``). Opsets 7 and later (``layout`` from 14).

    Raises:
        ValueError: no or several LSTM/GRU nodes (with node=None), no node of that name or
            index, a weight that is not a constant, an unknown attribute, an opset before 7,
            or inputs / attributes ONNX rejects (the message names the node and input).
        TypeError: a ``model_or_path`` or ``node`` of the wrong type.
        ImportError: the ``onnx`` package is not installed.

    Example::

        >>> import onnx
        >>> from onnx import helper, numpy_helper
        >>> W = np.random.rand(1, 12, 3).astype(np.float32)      # (D, 3*H, I), gates z, r, h
        >>> R = np.random.rand(1, 12, 4).astype(np.float32)      # (D, 3*H, H)
        >>> node = helper.make_node("GRU", ["X", "W", "R"], ["Y", "Y_h"], hidden_size=4)
        >>> graph = helper.make_graph(
        ...     [node], "gru", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [5, 2, 3])],
        ...     [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)],
        ...     initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R")])
        >>> layer = gatedrnn.from_onnx(helper.make_model(graph))  # or a path, or the bytes
        >>> layer
        GRU(3, 4, bias=False, linear_before_reset=False)
        >>> X = np.random.rand(5, 2, 3).astype(np.float32)       # (T, B, I)
        >>> y, h_n = layer(X)
        >>> Y, Y_h = gatedrnn.onnx.gru(X, W, R)                   # the node's outputs
        >>> bool(np.allclose(y, Y[:, 0]) and np.allclose(h_n, Y_h))
        True
    """
    model = _load_model(model_or_path)
    opset = _opset(model)
    graph = model.graph
    rnn, label = _select_node(graph, node)
    if opset < _MIN_OPSET:
        raise ValueError(f"{label}: the model imports opset {opset}; from_onnx reads {rnn.op_type} from opset "
                         f"{_MIN_OPSET} on")
    op = rnn.op_type
    names = _INPUTS[op]
    if len(rnn.input) > len(names):
        raise ValueError(f"{label}: {len(rnn.input)} inputs, {op} has at most {len(names)}")
    given = {names[k]: name for k, name in enumerate(rnn.input) if name}
    for required in ("X", "W", "R"):
        if required not in given:
            raise ValueError(f"{label}: input {required} is missing")
    constants = _constants(graph)
    weights: Dict[str, Optional[np.ndarray]] = {}
    for key in _WEIGHTS:
        tensor_name = given.get(key)
        if tensor_name is None:
            weights[key] = None
            continue
        if tensor_name not in constants:
            where = "a graph input" if any(i.name == tensor_name for i in graph.input) else "computed by the graph"
            raise ValueError(f"{label}: input {key} ({tensor_name!r}) is {where}; from_onnx needs W, R, B and P to be "
                             "initializers or Constant node outputs")
        try:
            weights[key] = _constant_value(constants[tensor_name])
        except Exception as exc:  # e.g. external data that is not there
            raise ValueError(f"{label}: input {key} ({tensor_name!r}): could not read its value: {exc}") from None
    attrs = _attributes(rnn, op, opset, label)
    options: Dict[str, Any] = dict(
        input_size=None,
        hidden_size=attrs.get("hidden_size"),
        direction=attrs.get("direction", "forward"),
        activations=attrs.get("activations"),
        activation_alpha=attrs.get("activation_alpha"),
        activation_beta=attrs.get("activation_beta"),
        clip=attrs.get("clip"),
        layout=attrs.get("layout", 0),
        num_threads=num_threads,
        precision=precision,
    )
    if op == "LSTM":
        options["input_forget"] = attrs.get("input_forget", 0)
    else:
        options["linear_before_reset"] = attrs.get("linear_before_reset", 0)
    try:
        layer: Union[LSTM, GRU] = _build_layer(op.lower(), weights["W"], weights["R"], weights["B"], weights["P"],
                                               **options)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{label}: {exc}") from None
    return layer

