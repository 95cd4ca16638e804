"""The ONNX recurrent operators' activation functions, as the compiled core takes them.

ONNX names a cell's activations in a flat list (LSTM: f, g, h per direction; GRU: f, g)
and gives their parameters in two more flat lists, ``activation_alpha`` and
``activation_beta``, consumed in order by the activations that take an alpha or a beta.
This module turns that into one ``(kind, alpha, beta)`` triple per slot and direction.
The numbering of kinds is the core's ``ActKind`` (cpp/include/gatedrnn/kernels.h).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

# name -> (ActKind number, default alpha or None if it takes none, default beta or None).
# The defaults are those of the ONNX operators of the same name.
_KINDS = {
    "sigmoid": (0, None, None),
    "tanh": (1, None, None),
    "relu": (2, None, None),
    "affine": (3, 1.0, 0.0),
    "leakyrelu": (4, 0.01, None),
    "thresholdedrelu": (5, 1.0, None),
    "scaledtanh": (6, 1.0, 1.0),
    "hardsigmoid": (7, 0.2, 0.5),
    "elu": (8, 1.0, None),
    "softsign": (9, None, None),
    "softplus": (10, None, None),
}

# ONNX's spelling of each name, for messages and configs.
NAMES = {
    "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "affine": "Affine", "leakyrelu": "LeakyRelu",
    "thresholdedrelu": "ThresholdedRelu", "scaledtanh": "ScaledTanh", "hardsigmoid": "HardSigmoid",
    "elu": "Elu", "softsign": "Softsign", "softplus": "Softplus",
}

Slot = Tuple[int, float, float]


def canonical(name: Any, where: str) -> str:
    """ONNX's spelling of an activation name given in any case; ValueError if unknown."""
    if not isinstance(name, str):
        raise TypeError(f"{where}: expected activation names (str), got {type(name).__name__}")
    key = name.lower()
    if key not in _KINDS:
        raise ValueError(f"{where}: unknown activation {name!r}; expected one of {', '.join(NAMES.values())}")
    return NAMES[key]


def _floats(values: Any, name: str) -> List[float]:
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name}: expected a list of floats, got {type(values).__name__}")
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected a list of floats, got an element {v!r}") from None
    return out


def slots(activations: Optional[Sequence[str]], alpha: Any, beta: Any, per_direction: int,
          directions: int) -> Optional[List[List[Slot]]]:
    """Per direction, ``per_direction`` (kind, alpha, beta) triples padded to 3 slots (the
    core always takes f, g, h). None when every activation is the default (the fast path).

    ``activations`` holds ``per_direction`` names (shared by every direction) or
    ``per_direction * directions`` (forward's first). ``alpha`` / ``beta`` are consumed in
    order by the activations that take them; when they run short, ONNX's defaults apply,
    and values left over are an error. Names given once serve every direction, with
    their parameters.
    """
    defaults = ["Sigmoid", "Tanh", "Tanh"][:per_direction]
    alphas = _floats(alpha, "activation_alpha")
    betas = _floats(beta, "activation_beta")
    if activations is None:
        if alphas or betas:
            raise ValueError("activation_alpha / activation_beta: given without activations")
        return None
    if isinstance(activations, str) or not hasattr(activations, "__len__"):
        raise TypeError(f"activations: expected a list of names, got {type(activations).__name__}")
    names = [canonical(a, "activations") for a in activations]
    if len(names) not in (per_direction, per_direction * directions):
        counts = f"{per_direction}" + (f" or {per_direction * directions}" if directions > 1 else "")
        raise ValueError(f"activations: expected {counts} names ({per_direction} per direction), got {len(names)}")
    resolved: List[Slot] = []
    for name in names:
        kind, da, db = _KINDS[name.lower()]
        a = alphas.pop(0) if da is not None and alphas else (da or 0.0)
        b = betas.pop(0) if db is not None and betas else (db or 0.0)
        resolved.append((kind, a, b))
    for attr, left in (("activation_alpha", alphas), ("activation_beta", betas)):
        if left:
            raise ValueError(f"{attr}: {len(left)} value(s) left over after the activations {names} took theirs")
    if len(resolved) == per_direction:  # one set for every direction, parameters included
        resolved = resolved * directions
    out: List[List[Slot]] = []
    for d in range(directions):
        row = resolved[d * per_direction:(d + 1) * per_direction]
        out.append(row + [(1, 0.0, 0.0)] * (3 - len(row)))  # GRU: the unused h slot
    if all(row[:per_direction] == [(_KINDS[n.lower()][0], 0.0, 0.0) for n in defaults] for row in out):
        return None
    return out
