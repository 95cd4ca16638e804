"""Saving, loading and pickling layers.

Files are in the `safetensors <https://huggingface.co/docs/safetensors>`_ format, written
and read here without the ``safetensors`` package (the format is small):

    8 bytes       N, the header's length, an unsigned little-endian integer
    N bytes       the header: a UTF-8 JSON object, padded with spaces to a multiple of 8
                  {"__metadata__": {str: str},
                   name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
    the rest      the tensors' bytes, little-endian, at [begin, end) from the end of the
                  header; the tensors tile this region exactly

The tensors are the layer's ``state_dict()`` under PyTorch's names, so the file opens in
any safetensors reader (``safetensors.numpy.load_file``, ``safetensors.torch.load_file``).
The metadata says how to rebuild the layer:

    "format": "gatedrnn", "format_version": "1",
    "class": "LSTM" | "GRU" | "LSTMCell" | "GRUCell",
    "config": JSON of the constructor's keyword arguments (``layer._init_args()``)

:func:`load` checks all of it and raises ValueError naming the file and what is wrong
with it, so a damaged or mismatched file never gives a silently wrong model.

Pickling (``pickle``, ``copy.deepcopy``, multiprocessing, Dask) goes through
:func:`reduce_layer`: a layer travels as its class name, configuration and parameters, and
is rebuilt (its weights packed again) on the other side.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

if TYPE_CHECKING:
    from ._layers import GRU, LSTM, Float32Array, GRUCell, LSTMCell

    Layer = Union[LSTM, GRU, LSTMCell, GRUCell]

__all__ = ["save", "load", "reduce_layer"]

FORMAT = "gatedrnn"
FORMAT_VERSION = 1  # raise when the meaning of the metadata or tensors changes

_DTYPE = "F32"
_ITEMSIZE = 4
_LE_F32 = np.dtype("<f4")
_MAX_HEADER = 100 * 2**20  # the limit the safetensors package itself enforces
_CLASS_NAMES = ("LSTM", "GRU", "LSTMCell", "GRUCell")

PathLike = Union[str, "os.PathLike[str]"]


def _classes() -> Dict[str, type[Layer]]:
    """The layer classes by name (imported here: _layers imports this module)."""
    from . import _layers

    return {name: getattr(_layers, name) for name in _CLASS_NAMES}


def _class_name(layer: Any) -> str:
    """The name under which ``layer``'s class is saved; TypeError for anything else
    (a subclass could take other constructor arguments, so it is not rebuilt silently as
    its base class)."""
    cls = type(layer)
    classes = _classes()
    if classes.get(cls.__name__) is cls:
        return cls.__name__
    got = f"{cls.__module__}.{cls.__qualname__}"
    base = next((c.__name__ for c in cls.__mro__ if classes.get(c.__name__) is c), None)
    if base:
        raise TypeError(f"model: {got} is a subclass of gatedrnn.{base}; saving and pickling support the gatedrnn "
                        f"classes themselves (a subclass may need other constructor arguments: give it its own "
                        f"__reduce__)")
    raise TypeError(f"model: expected a gatedrnn LSTM, GRU, LSTMCell or GRUCell, got {got}")


def _config(layer: Any) -> Dict[str, Any]:
    config = layer._init_args()
    if not isinstance(config, dict):
        raise TypeError(f"{type(layer).__name__}._init_args(): expected a dict, got {type(config).__name__}")
    return dict(config)


# -- pickling ---------------------------------------------------------------------------------
def _rebuild(cls_name: str, config: Dict[str, Any], state: Dict[str, Any]) -> Layer:
    """Unpickle a layer: construct ``cls_name(**config)`` and load ``state`` into it."""
    classes = _classes()
    if cls_name not in classes:
        raise ValueError(f"cls_name: expected one of {', '.join(_CLASS_NAMES)}, got {cls_name!r}")
    from ._layers import weights_follow

    with weights_follow():
        layer = classes[cls_name](**config)
    layer.load_state_dict(state)
    return layer


def reduce_layer(layer: Any) -> Tuple[Callable[..., Any], Tuple[str, Dict[str, Any], Dict[str, Float32Array]]]:
    """``layer.__reduce__()``: rebuild from the class name, the constructor's keyword
    arguments and the parameters (float32 copies, pickled as NumPy arrays)."""
    return _rebuild, (_class_name(layer), _config(layer), layer.state_dict())


# -- saving -----------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    """NumPy scalars and arrays in a configuration become plain numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"configuration value {value!r} of type {type(value).__name__} is not JSON serialisable")


def save(model: Any, path: PathLike) -> None:
    """Write ``model`` (LSTM, GRU, LSTMCell or GRUCell) to ``path`` as a safetensors file:
    its parameters under PyTorch's names, its class and configuration in the metadata.
    An existing file is replaced. Read it back with :func:`load`."""
    path = _fspath(path)
    cls_name = _class_name(model)
    config = json.dumps(_config(model), sort_keys=True, allow_nan=False, default=_json_default)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "class": cls_name, "config": config}
    header: Dict[str, Any] = {"__metadata__": metadata}
    arrays: List[np.ndarray] = []
    offset = 0
    for name, value in model.state_dict().items():
        arr = np.ascontiguousarray(value, dtype=_LE_F32)
        header[name] = {"dtype": _DTYPE, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        arrays.append(arr)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the tensors start 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for arr in arrays:
            f.write(arr.data)


# -- loading ----------------------------------------------------------------------------------
def _fspath(path: Any) -> str:
    try:
        out = os.fspath(path)
    except TypeError:
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}") from None
    return os.fsdecode(out)


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Tensor:
    __slots__ = ("name", "shape", "begin", "end")

    def __init__(self, name: str, shape: Tuple[int, ...], begin: int, end: int) -> None:
        self.name, self.shape, self.begin, self.end = name, shape, begin, end


def _parse_tensor(name: str, info: Any, fail: Callable[[str], Exception]) -> _Tensor:
    """Check one header entry: an object with dtype F32, a shape of ints >= 0 and
    data_offsets [begin, end] holding exactly that many bytes."""
    where = f"tensor {name!r}"
    if not isinstance(info, dict):
        raise fail(f"{where}: expected an object with dtype, shape and data_offsets, got {json.dumps(info)[:80]}")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
    if missing:
        raise fail(f"{where}: header entry lacks {', '.join(missing)}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype != _DTYPE:
        raise fail(f"{where}: dtype {dtype!r}, expected {_DTYPE!r} (gatedrnn parameters are float32)")
    if not isinstance(shape, list) or not all(_is_int(n) and n >= 0 for n in shape):
        raise fail(f"{where}: shape {json.dumps(shape)}, expected a list of ints >= 0")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(n) for n in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        raise fail(f"{where}: data_offsets {json.dumps(offsets)}, expected [begin, end] with 0 <= begin <= end")
    begin, end = offsets
    expected = math.prod(shape) * _ITEMSIZE
    if end - begin != expected:
        raise fail(f"{where}: shape {shape} needs {expected} bytes of {_DTYPE}, "
                   f"but data_offsets [{begin}, {end}] hold {end - begin}")
    return _Tensor(name, tuple(shape), begin, end)


def _check_layout(tensors: List[_Tensor], size: int, fail: Callable[[str], Exception]) -> None:
    """The tensors must lie within the data region and tile it: no overlap, no gap."""
    position, previous = 0, None
    for t in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if t.end > size:
            raise fail(f"tensor {t.name!r}: data_offsets [{t.begin}, {t.end}] run past the end of the "
                       f"data ({size} bytes after the header): the file is truncated or corrupt")
        if t.begin < position:
            raise fail(f"tensors {previous!r} and {t.name!r} overlap (bytes {t.begin} to {position})")
        if t.begin > position:
            raise fail(f"bytes {position} to {t.begin} of the data belong to no tensor")
        position, previous = t.end, t.name
    if position != size:
        raise fail(f"{size - position} trailing bytes after the last tensor (the data is {size} bytes, "
                   f"the tensors end at {position})")


def _parse_metadata(metadata: Any, fail: Callable[[str], Exception]) -> Tuple[str, Dict[str, Any]]:
    """The class name and the configuration from the header's __metadata__."""
    hint = "not saved by gatedrnn (gatedrnn.save writes format, format_version, class and config metadata)"
    if metadata is None:
        raise fail(f"the header has no __metadata__: {hint}")
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise fail("__metadata__: expected an object of strings")
    missing = [k for k in ("format", "format_version", "class", "config") if k not in metadata]
    if missing:
        raise fail(f"__metadata__ lacks {', '.join(repr(k) for k in missing)}: {hint}")
    if metadata["format"] != FORMAT:
        raise fail(f"__metadata__ format is {metadata['format']!r}, expected {FORMAT!r}")
    version = metadata["format_version"]
    if not (version.isascii() and version.isdigit()):
        raise fail(f"__metadata__ format_version is {version!r}, expected an integer")
    if int(version) > FORMAT_VERSION:
        raise fail(f"format_version {version}: written by a newer gatedrnn (this one reads up to "
                   f"{FORMAT_VERSION}); upgrade gatedrnn")
    cls_name = metadata["class"]
    if cls_name not in _CLASS_NAMES:
        raise fail(f"unknown class {cls_name!r}, expected one of {', '.join(_CLASS_NAMES)}")
    try:
        config = json.loads(metadata["config"], object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise fail(f"__metadata__ config is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise fail(f"__metadata__ config: expected a JSON object of constructor arguments, got {metadata['config'][:80]}")
    return cls_name, config


def load(path: PathLike, *, precision: Optional[str] = None) -> Layer:
    """Read a layer written by ``layer.save(path)`` (or by any safetensors writer, given
    PyTorch's parameter names and gatedrnn's metadata).

    Args:
        path: ``str`` or ``os.PathLike`` of the file.
        precision: "fp32", "bf16" or "int8" overrides the saved one (None: keep it); the
            file always holds the float32 weights, so a model saved in bf16 or int8 loads
            back exactly in fp32 too.

    Returns:
        The :class:`~gatedrnn.LSTM`, :class:`~gatedrnn.GRU`, :class:`~gatedrnn.LSTMCell` or
        :class:`~gatedrnn.GRUCell` that was saved: the same class, configuration and
        weights.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        TypeError: ``path`` is not a str or os.PathLike, or ``precision`` not a str.
        ValueError: naming the file and the problem, for anything else: not a regular
            file, truncated, a malformed header (bad length, bad JSON, tensors that
            overlap, leave gaps or run past the end, a dtype other than F32, a shape that
            disagrees with the byte count), missing or foreign metadata, an unknown class,
            a configuration the constructor rejects, tensors that do not match the
            configuration; or an unknown ``precision``.

    Example::

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "gru.safetensors")
        >>> gru = gatedrnn.GRU(4, 8, bidirectional=True, seed=0)
        >>> gru.save(path)
        >>> loaded = gatedrnn.load(path, precision="bf16")
        >>> loaded
        GRU(4, 8, bidirectional=True, precision='bf16')
        >>> bool((loaded.state_dict()["weight_ih_l0"] == gru.state_dict()["weight_ih_l0"]).all())
        True
    """
    path = _fspath(path)
    if precision is not None:
        from ._layers import _check_precision

        _check_precision(precision)

    def fail(what: str) -> ValueError:
        return ValueError(f"cannot load {path!r}: {what}")

    mode = os.stat(path).st_mode  # FileNotFoundError as it is; stat first: opening a FIFO blocks
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise fail(f"{kind}, expected a safetensors file")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise fail(f"truncated: {size} bytes, but a safetensors file starts with an 8-byte header length")
        (n,) = struct.unpack("<Q", f.read(8))
        if n > size - 8:
            raise fail(f"header length {n} exceeds the {size - 8} bytes after it: the file is truncated "
                       f"or not a safetensors file")
        if n > _MAX_HEADER:
            raise fail(f"header length {n} exceeds the limit of {_MAX_HEADER} bytes")
        raw = f.read(n)
        try:
            header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError) as exc:
            raise fail(f"the header is not valid JSON ({exc}): not a safetensors file, or a corrupt one") from None
        if not isinstance(header, dict):
            raise fail(f"the header is a JSON {type(header).__name__}, expected an object")
        metadata = header.pop("__metadata__", None)
        tensors = [_parse_tensor(name, info, fail) for name, info in header.items()]
        data_size = size - 8 - n
        _check_layout(tensors, data_size, fail)
        cls_name, config = _parse_metadata(metadata, fail)
        data = np.empty(data_size, np.uint8)  # not zeroed: every byte is read into
        # (NumPy's stubs make ndarray a Buffer from Python 3.12 on.)
        if f.readinto(memoryview(data)) != data_size:  # type: ignore[arg-type, unused-ignore]
            raise fail("truncated while reading (did the file change?)")
    arrays = {t.name: np.frombuffer(data, _LE_F32, (t.end - t.begin) // _ITEMSIZE, t.begin).reshape(t.shape)
              for t in tensors}
    cls = _classes()[cls_name]
    if precision is not None:
        config["precision"] = precision
    from ._layers import weights_follow

    try:
        with weights_follow():
            layer = cls(**config)
    except MemoryError as exc:
        raise MemoryError(f"cannot load {path!r}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise fail(f"{cls_name} rejects the configuration {json.dumps(config, sort_keys=True)}: {exc}") from None
    try:
        layer.load_state_dict(arrays)
    except (TypeError, ValueError) as exc:
        raise fail(f"the tensors do not match {cls_name}(**{json.dumps(config, sort_keys=True)}): {exc}") from None
    return layer
