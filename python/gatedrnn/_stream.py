"""Streaming: a model's state kept between calls, for inputs that arrive a step or a
chunk at a time (speech frames, sensor readings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._layers import Float32Array, _as_float32

if TYPE_CHECKING:
    from ._layers import _Recurrent

_F32 = np.dtype(np.float32)

#: A stream's state: an LSTM's (or LSTMCell's) ``(h, c)``, a GRU's (or GRUCell's) ``h``.
State = Union[Float32Array, Tuple[Float32Array, Float32Array]]


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

    Args:
        model: a unidirectional, not ``reverse``, :class:`~gatedrnn.LSTM`,
            :class:`~gatedrnn.GRU`, :class:`~gatedrnn.LSTMCell` or
            :class:`~gatedrnn.GRUCell` (``model.stream(batch_size)`` is the usual way).
        batch_size: the number of sequences streamed side by side (an int >= 1).

    Raises:
        ValueError: ``batch_size`` < 1 or not an int, or a bidirectional or ``reverse``
            model.

    Example::

        >>> lstm = gatedrnn.LSTM(40, 128, num_layers=2, seed=0)
        >>> frames = np.random.rand(6, 1, 40).astype(np.float32)   # (T, batch_size, I)
        >>> s = lstm.stream(batch_size=1)
        >>> ys = [s.step(frame) for frame in frames]              # each (1, 128)
        >>> y, _ = lstm(frames)                                   # the whole sequence at once
        >>> bool((np.stack(ys) == y).all())                       # bitwise the same
        True
    """

    def __init__(self, model: _Recurrent, batch_size: int) -> None:
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
        self._c: Optional[Float32Array] = (
            np.zeros((L, self.batch_size, model.hidden_size), np.float32) if self._lstm else None)
        self._threads = model.num_threads

    # -- advancing ---------------------------------------------------------------------
    def step(self, x: npt.ArrayLike) -> Float32Array:
        """Advance one timestep: x (batch_size, input_size) -> y (batch_size, H_out).

        Args:
            x: one step of input, (batch_size, input_size), any real dtype.

        Returns:
            This step's output, a float32 array (batch_size, H_out) (H_out =
            proj_size or hidden_size: the last layer's h). The state moves on one step.

        Raises:
            ValueError: x is not (batch_size, input_size).
            TypeError: x is not numeric.

        Example::

            >>> s = gatedrnn.GRU(3, 5, num_layers=2, seed=0).stream(batch_size=4)
            >>> s.step(np.ones((4, 3), np.float32)).shape
            (4, 5)
        """
        if type(x) is not np.ndarray or x.dtype is not _F32:
            x = _as_float32(x, "x")  # the core copies a float32 array that is strided or misaligned
        if x.ndim != 2:
            raise ValueError(
                f"x: expected one step of shape ({self.batch_size}, {self._model.input_size}), got {tuple(x.shape)}")
        return self._model._net.advance(x, self._h, self._c, False, self._threads or 0)

    def __call__(self, x: npt.ArrayLike) -> Float32Array:
        """Advance over a chunk of steps: x (T, batch_size, input_size) -> y (T, batch_size, H_out).

        Args:
            x: (T, batch_size, input_size), or (batch_size, T, input_size) for a
                ``batch_first`` model; any real dtype. T may be 0.

        Returns:
            The chunk's outputs, float32, in x's layout with H_out features. Feeding a
            sequence in chunks of any size gives bitwise the outputs of one call.

        Raises:
            ValueError: x is not 3-D (use :meth:`step` for one step) or its batch or
                feature size differs from the stream's.
            TypeError: x is not numeric.

        Example::

            >>> lstm = gatedrnn.LSTM(3, 5, seed=0)
            >>> x = np.random.rand(8, 2, 3).astype(np.float32)
            >>> s = lstm.stream(batch_size=2)
            >>> y = np.concatenate([s(x[:3]), s(x[3:])])             # two chunks
            >>> bool((y == lstm(x)[0]).all())
            True
        """
        if type(x) is not np.ndarray or x.dtype is not _F32:
            x = _as_float32(x, "x")  # the core copies a float32 array that is strided or misaligned
        if x.ndim != 3:
            form = "(batch_size, T, input_size)" if self._batch_first else "(T, batch_size, input_size)"
            raise ValueError(f"x: expected a chunk of shape {form}, got {tuple(x.shape)}; use step() for one step")
        return self._model._net.advance(x, self._h, self._c, self._batch_first,
                                 self._threads or 0)

    # -- the state ----------------------------------------------------------------------
    def reset(self) -> None:
        """Zero the state (start a new stream).

        Example::

            >>> s = gatedrnn.GRUCell(3, 5, seed=0).stream()
            >>> _ = s.step(np.ones((1, 3), np.float32))
            >>> s.reset()
            >>> bool((s.state == 0).all())
            True
        """
        self._h.fill(0.0)
        if self._c is not None:
            self._c.fill(0.0)

    @property
    def state(self) -> State:
        """The state, read as a copy or assigned.

        LSTM: ``(h, c)`` with h (num_layers, batch_size, H_out) and c (num_layers,
        batch_size, hidden_size) float32 arrays; GRU: h. Cells: without the layer axis,
        (batch_size, .). Assigning takes the same form, of any real dtype (converted to
        float32); nothing changes if it raises.

        Raises:
            TypeError: (on assignment) an LSTM state that is not a pair ``(h, c)``, or a
                non-numeric array.
            ValueError: (on assignment) a wrong shape.

        Example::

            >>> s = gatedrnn.LSTM(3, 5, num_layers=2, seed=0).stream(batch_size=1)
            >>> h, c = s.state
            >>> h.shape, c.shape
            ((2, 1, 5), (2, 1, 5))
            >>> s.state = (h + 0.5, c)                                  # set it
            >>> float(s.state[0][0, 0, 0])
            0.5
        """
        h = self._h[0].copy() if self._cell else self._h.copy()
        if self._c is None:
            return h
        c = self._c[0].copy() if self._cell else self._c.copy()
        return h, c

    @state.setter
    def state(self, value: Union[npt.ArrayLike, Tuple[npt.ArrayLike, npt.ArrayLike]]) -> None:
        h: Any
        c: Any
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

    def _check(self, value: Any, name: str, target: Float32Array) -> Float32Array:
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"state {name}: expected a real numeric array, got dtype {arr.dtype}")
        expected = target.shape[1:] if self._cell else target.shape
        if arr.shape != expected:
            raise ValueError(f"state {name}: expected shape {tuple(expected)}, got {tuple(arr.shape)}")
        return arr.reshape(target.shape).astype(np.float32)

    def __repr__(self) -> str:
        return f"Stream({self._model!r}, batch_size={self.batch_size})"
