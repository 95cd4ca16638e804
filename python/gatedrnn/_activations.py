"""The ONNX recurrent operators' activation functions, as the compiled core takes them.

ONNX names a cell's activations in a flat list (LSTM: f, g, h per direction; GRU: f, g)
and gives their parameters in two more flat lists, ``activation_alpha`` and
``activation_beta``, consumed in order by the activations that take an alpha or a beta.
This module turns that into one ``(kind, alpha, beta)`` triple per slot and direction.
The numbering of kinds is the core's ``ActKind`` (cpp/include/gatedrnn/kernels.h).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

# ONNX's spelling of each name, its ActKind number, and the default alpha and beta (those
# of the ONNX operators of the same name; None: the function takes none).
_ACTIVATIONS = [
    ("Sigmoid", 0, None, None),
    ("Tanh", 1, None, None),
    ("Relu", 2, None, None),
    ("Affine", 3, 1.0, 0.0),
    ("LeakyRelu", 4, 0.01, None),
    ("ThresholdedRelu", 5, 1.0, None),
    ("ScaledTanh", 6, 1.0, 1.0),
    ("HardSigmoid", 7, 0.2, 0.5),
    ("Elu", 8, 1.0, None),
    ("Softsign", 9, None, None),
    ("Softplus", 10, None, None),
]
# lower-case name -> (ActKind number, default alpha, default beta); ONNX spelling by lower case.
_KINDS = {name.lower(): (kind, alpha, beta) for name, kind, alpha, beta in _ACTIVATIONS}
NAMES = {name.lower(): name for name, *_ in _ACTIVATIONS}

Slot = Tuple[int, float, float]


def canonical(name: Any, where: str) -> str:
    """ONNX's spelling of an activation name given in any case; ValueError if unknown."""
    if not isinstance(name, str):
        raise TypeError(f"{where}: expected activation names (str), got {type(name).__name__}")
    key = name.lower()
    if key not in _KINDS:
        raise ValueError(f"{where}: unknown activation {name!r}; expected one of {', '.join(NAMES.values())}")
    return NAMES[key]


def takes_parameters(name: str) -> Tuple[bool, bool]:
    """Whether the activation ``name`` (any case, known) takes an alpha and a beta."""
    _, alpha, beta = _KINDS[name.lower()]
    return alpha is not None, beta is not None


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
