"""Streaming: a model's state kept between calls, for inputs that arrive a step or a
chunk at a time (speech frames, sensor readings)."""

from __future__ import annotations

from typing import Any, Tuple, Union

import numpy as np

from ._threads import get_num_threads
from ._layers import _as_float32

_F32 = np.dtype(np.float32)

State = Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]


class Stream:
    """The running state of a unidirectional LSTM, GRU or cell over a stream of inputs.

    Made by ``model.stream(batch_size=1)``. ``s.step(x_t)`` advances one timestep
    (x_t: (batch_size, input_size)) and returns that step's output (batch_size, H_out);
    ``s(x_chunk)`` advances several ((T, batch_size, input_size), or (batch_size, T,
    input_size) for a ``batch_first`` model) and returns their outputs in the same layout.
    Feeding a sequence in chunks gives exactly (bitwise) the outputs of one call over the
    whole sequence. ``s.state`` reads (copies) or sets the state in the model's layout
    (LSTM: ``(h, c)`` with h (num_layers, batch_size, H_out) and c (num_layers,
    batch_size, hidden_size); GRU: h; cells: without the layer axis); ``s.reset()``
    zeroes it. The state lives inside the stream and is updated in place: a step
    allocates only its output. Two streams of one model never share state. A stream runs
    at its model's ``precision`` (fp32, bf16 or int8).

    Example::

        >>> lstm = gatedrnn.LSTM(40, 128, num_layers=2, seed=0)
        >>> s = lstm.stream(batch_size=1)
        >>> for frame in frames:                      # each (1, 40) float32
        ...     y = s.step(frame)                     # (1, 128)
    """

    def __init__(self, model: Any, batch_size: int) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        if getattr(model, "bidirectional", False):
            raise ValueError("stream: a bidirectional model needs the whole sequence; it cannot stream")
        if getattr(model, "reverse", False):
            raise ValueError("stream: a reverse model starts from the last step; it cannot stream")
        self._model = model  # its network is looked up per call: load_state_dict replaces it
        self._cell = bool(getattr(model, "_cell", False))
        self._batch_first = bool(getattr(model, "batch_first", False)) and not self._cell
        self._lstm = model._kind == "lstm"
        self.batch_size = int(batch_size)
        L = model.num_layers
        self._h = np.zeros((L, self.batch_size, model._out_size), np.float32)
        self._c = np.zeros((L, self.batch_size, model.hidden_size), np.float32) if self._lstm else None
        self._threads = model.num_threads

    # -- advancing ---------------------------------------------------------------------
    def _input(self, x: Any) -> np.ndarray:
        if type(x) is np.ndarray and x.dtype is _F32:
            return x  # the core copies a strided or misaligned buffer
        return _as_float32(x, "x")

    def step(self, x: Any) -> np.ndarray:
        """Advance one timestep: x (batch_size, input_size) -> y (batch_size, H_out)."""
        x = self._input(x)
        if x.ndim != 2:
            raise ValueError(
                f"x: expected one step of shape ({self.batch_size}, {self._model.input_size}), got {tuple(x.shape)}")
        return self._model._net.advance(x, self._h, self._c, False, self._threads or get_num_threads())

    def __call__(self, x: Any) -> np.ndarray:
        """Advance over a chunk of steps: x (T, batch_size, input_size) (or batch-first for a
        batch_first model) -> y of the same layout with H_out features."""
        x = self._input(x)
        if x.ndim != 3:
            form = "(batch_size, T, input_size)" if self._batch_first else "(T, batch_size, input_size)"
            raise ValueError(f"x: expected a chunk of shape {form}, got {tuple(x.shape)}; use step() for one step")
        return self._model._net.advance(x, self._h, self._c, self._batch_first,
                                 self._threads or get_num_threads())

    # -- the state ----------------------------------------------------------------------
    def reset(self) -> None:
        """Zero the state (start a new stream)."""
        self._h.fill(0.0)
        if self._c is not None:
            self._c.fill(0.0)

    @property
    def state(self) -> State:
        """A copy of the state: LSTM ``(h, c)``, GRU ``h``; cells without the layer axis."""
        h = self._h[0].copy() if self._cell else self._h.copy()
        if self._c is None:
            return h
        c = self._c[0].copy() if self._cell else self._c.copy()
        return h, c

    @state.setter
    def state(self, value: State) -> None:
        if self._lstm:
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise TypeError(f"state: expected a tuple (h, c), got {type(value).__name__}")
            h, c = value
        else:
            h, c = value, None
        new_h = self._check(h, "h", self._h)
        new_c = None if self._c is None else self._check(c, "c", self._c)
        self._h[...] = new_h  # both checked first: a bad value leaves the state untouched
        if self._c is not None:
            self._c[...] = new_c

    def _check(self, value: Any, name: str, target: np.ndarray) -> np.ndarray:
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"state {name}: expected a real numeric array, got dtype {arr.dtype}")
        expected = target.shape[1:] if self._cell else target.shape
        if arr.shape != expected:
            raise ValueError(f"state {name}: expected shape {tuple(expected)}, got {tuple(arr.shape)}")
        return arr.reshape(target.shape).astype(np.float32)

    def __repr__(self) -> str:
        return f"Stream({self._model!r}, batch_size={self.batch_size})"
