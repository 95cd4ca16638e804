"""Importers: layers trained elsewhere, moved into gatedrnn in one call."""

from __future__ import annotations

from typing import Any, Dict, Optional, Union


from ._layers import GRU, LSTM, GRUCell, LSTMCell, weights_follow

Layer = Union[LSTM, GRU, LSTMCell, GRUCell]


def from_torch(module: Any, *, num_threads: Optional[int] = None, precision: str = "fp32") -> Layer:
    """A gatedrnn layer with the configuration and weights of a PyTorch module.

    PyTorch's gate orders and names are gatedrnn's, so the weights are copied as they
    are (to float32, from any device), then packed once. Dropout applies to training
    only and is ignored; a GRU imports with ``linear_before_reset=True``, PyTorch's form.

    Args:
        module: a ``torch.nn.LSTM`` (proj_size included), ``torch.nn.GRU``,
            ``torch.nn.LSTMCell`` or ``torch.nn.GRUCell``.
        num_threads: the layer's ``num_threads`` (None: :func:`gatedrnn.get_num_threads`;
            cells use the default).
        precision: "fp32", "bf16" or "int8", the layer's: the weights are converted once,
            here.

    Returns:
        The :class:`~gatedrnn.LSTM`, :class:`~gatedrnn.GRU`, :class:`~gatedrnn.LSTMCell`
        or :class:`~gatedrnn.GRUCell` of the same configuration (``num_layers``, ``bias``,
        ``batch_first``, ``bidirectional``, ``proj_size``), which takes and returns NumPy
        float32 arrays of the module's shapes.

    Raises:
        TypeError: ``module`` is none of the four (subclasses included).
        ValueError: a module gatedrnn cannot run exactly (e.g. weights on the meta
            device), or a bad ``precision`` / ``num_threads``.

    Example::

        >>> import torch
        >>> t = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True)
        >>> g = gatedrnn.from_torch(t)
        >>> g
        LSTM(8, 16, num_layers=2, batch_first=True)
        >>> x = torch.randn(3, 5, 8)                              # (B, T, I)
        >>> y, (h, c) = g(x.numpy())
        >>> bool(np.allclose(y, t(x)[0].detach().numpy(), atol=1e-5))
        True
    """
    import torch  # only needed here: an importer of torch modules

    nn = torch.nn
    if isinstance(module, (nn.LSTMCell, nn.GRUCell)):
        cls = LSTMCell if isinstance(module, nn.LSTMCell) else GRUCell
        with weights_follow():
            layer: Layer = cls(module.input_size, module.hidden_size, bias=module.bias, seed=0, precision=precision)
    elif isinstance(module, (nn.LSTM, nn.GRU)) and type(module).__name__ in ("LSTM", "GRU"):
        common: Dict[str, Any] = dict(num_layers=module.num_layers, bias=module.bias, batch_first=module.batch_first,
                                      bidirectional=module.bidirectional, seed=0, num_threads=num_threads,
                                      precision=precision)
        with weights_follow():
            if isinstance(module, nn.LSTM):
                layer = LSTM(module.input_size, module.hidden_size, proj_size=module.proj_size, **common)
            else:
                layer = GRU(module.input_size, module.hidden_size, **common)
    else:
        raise TypeError(
            "module: expected torch.nn.LSTM, GRU, LSTMCell or GRUCell, got " + type(module).__module__ + "."
            + type(module).__qualname__)
    state = {}
    for name, tensor in module.state_dict().items():
        if tensor.is_meta:
            raise ValueError(f"module: parameter {name!r} is on the meta device (no values to import)")
        state[name] = tensor.detach().to("cpu", torch.float32).numpy()
    layer.load_state_dict(state)
    return layer
