"""Hostile input (issue 5, item 4): inputs a server does not control get a clear exception or
the documented conversion, never a crash, and leave the process healthy.

test_errors.py covers wrong ndim / feature size, bad state shapes, bad lengths, str / bytes /
object / complex arrays and the basic conversions; this file covers the rest: empty T or B,
more dtypes, exact float16/float64 conversion, negative strides, read-only, misaligned and
broadcast arrays, ``__array__`` objects and torch tensors, NaN and Inf, non-finite
state_dicts, sizes the core cannot index and sizes whose allocation fails (MemoryError).

After every test an autouse fixture checks that a fresh LSTM and GRU still give the
reference result, and the tests check the very model that received the hostile input too.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference

KINDS = ("lstm", "gru")
RTOL, ATOL = 1e-5, 2e-5


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def make(kind, I=6, H=9, **kw):
    """A two-layer bidirectional model (LSTM with a projection): every state axis matters."""
    kw.setdefault("num_layers", 2)
    kw.setdefault("bidirectional", True)
    if kind == "lstm":
        kw.setdefault("proj_size", 4)
        return gatedrnn.LSTM(I, H, seed=3, **kw)
    return gatedrnn.GRU(I, H, seed=3, **kw)


def make_cell(kind, I=6, H=9):
    return (gatedrnn.LSTMCell if kind == "lstm" else gatedrnn.GRUCell)(I, H, seed=3)


def is_cell(model):
    return isinstance(model, (gatedrnn.LSTMCell, gatedrnn.GRUCell))


def kind_of(model):
    return "lstm" if isinstance(model, gatedrnn.LSTM) else "gru"


def outputs(result):
    """Flatten a layer's or cell's result into a list of arrays."""
    if isinstance(result, np.ndarray):
        return [result]
    y, s = result
    if isinstance(s, tuple):
        return [y, *s]
    return [y] if s is None else [y, s]


def call(model, x, state=None, lengths=None):
    if is_cell(model):
        return outputs(model(x, state))
    kw = {} if lengths is None else {"lengths": lengths}
    return outputs(model(x, state, **kw))


def ref(model, x, state=None, lengths=None):
    sd = model.state_dict()
    kind = kind_of(model)
    with np.errstate(all="ignore"):  # NaN / inf inputs: the float64 reference computes them too
        if is_cell(model):
            if kind == "lstm":
                return outputs(reference.lstm_cell(x, sd, state))
            return outputs(reference.gru_cell(x, sd, state, linear_before_reset=model.linear_before_reset))
        if kind == "lstm":
            return outputs(reference.lstm(x, sd, state, batch_first=model.batch_first, lengths=lengths))
        return outputs(reference.gru(x, sd, state, batch_first=model.batch_first, lengths=lengths,
                                     linear_before_reset=model.linear_before_reset))


def assert_all_equal(got, want, what=""):
    assert len(got) == len(want), what
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == np.float32, f"{what}[{i}]: dtype {a.dtype}"
        assert a.shape == b.shape, f"{what}[{i}]: shape {a.shape} != {b.shape}"
        np.testing.assert_array_equal(a, b, err_msg=f"{what}[{i}]")


def assert_matches_reference(got, want, what=""):
    assert len(got) == len(want), what
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, f"{what}[{i}]: shape {a.shape} != {b.shape}"
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"{what}[{i}]")  # NaN == NaN


def state_shapes(model, B):
    """Initial-state shapes of a model for batch B (None: unbatched)."""
    lead = () if is_cell(model) else (model.num_layers * (2 if model.bidirectional else 1),)
    rows = () if B is None else (B,)
    h = lead + rows + (model.proj_size or model.hidden_size,)
    c = lead + rows + (model.hidden_size,)
    return [h, c] if kind_of(model) == "lstm" else [h]


def random_state(model, B, rng, convert=lambda a: a):
    arrays = [convert(rng.standard_normal(s).astype(np.float32)) for s in state_shapes(model, B)]
    return tuple(arrays) if len(arrays) == 2 else arrays[0]


def x_shape(model, T, B):
    if is_cell(model):
        return (B, model.input_size)
    return (B, T, model.input_size) if model.batch_first else (T, B, model.input_size)


class Healthy:
    """Records a model's result on fixed data; ``check()`` asserts it is unchanged (bitwise)
    and still the reference result."""

    def __init__(self, model):
        self.model = model
        rng = np.random.default_rng(99)
        self.x = rng.standard_normal(x_shape(model, 5, 3)).astype(np.float32)
        self.state = random_state(model, 3, rng)
        self.want = call(model, self.x, self.state)
        assert_matches_reference(self.want, ref(model, self.x, self.state), "baseline")

    def check(self):
        got = call(self.model, self.x, self.state)
        assert_all_equal(got, self.want, "after the hostile input")
        assert_matches_reference(got, ref(self.model, self.x, self.state), "after the hostile input")


_PROCESS_CHECK = {}


@pytest.fixture(autouse=True)
def process_stays_healthy():
    """After every test, fresh models (a layer through the fast path, a cell) still give the
    results they gave before the first hostile input of this module."""
    yield
    x = np.random.default_rng(7).standard_normal((6, 3, 5)).astype(np.float32)
    for name, model, inp in [("lstm", gatedrnn.LSTM(5, 21, seed=1), x), ("gru", gatedrnn.GRU(5, 21, seed=1), x),
                             ("lstm_cell", gatedrnn.LSTMCell(5, 21, seed=1), x[0])]:
        got = call(model, inp)
        assert_matches_reference(got, ref(model, inp), name)
        want = _PROCESS_CHECK.setdefault(name, got)
        assert_all_equal(got, want, name)


def under_asan():
    return "libasan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ


def asan_returns_null():
    """Under ASan a failed huge allocation aborts unless allocator_may_return_null=1."""
    return not under_asan() or "allocator_may_return_null=1" in os.environ.get("ASAN_OPTIONS", "")


# --------------------------------------------------------------------------------------
# empty T or B: valid, empty outputs of the right shapes; T = 0 returns the initial state
# --------------------------------------------------------------------------------------

EMPTY_TB = [(0, 3), (4, 0), (0, 0)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T,B", EMPTY_TB, ids=lambda v: str(v))
@pytest.mark.parametrize("batch_first", [False, True], ids=["seqfirst", "batchfirst"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])  # fast / converting path
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
def test_empty_batch_or_time(kind, T, B, batch_first, dtype, with_state):
    m = make(kind, batch_first=batch_first)
    health = Healthy(m)
    rng = np.random.default_rng(0)
    x = np.zeros(x_shape(m, T, B), dtype)
    state = random_state(m, B, rng) if with_state else None
    got = call(m, x, state)
    D, Hout = 2, m.proj_size or m.hidden_size
    y_shape = (B, T, D * Hout) if batch_first else (T, B, D * Hout)
    assert got[0].shape == y_shape and got[0].dtype == np.float32
    shapes = state_shapes(m, B)
    assert [s.shape for s in got[1:]] == [tuple(s) for s in shapes]
    assert all(s.dtype == np.float32 for s in got[1:])
    if T == 0:  # nothing to run: the final state is the initial state
        init = list(state) if isinstance(state, tuple) else [state] if state is not None else None
        for i, s in enumerate(got[1:]):
            np.testing.assert_array_equal(s, init[i] if init is not None else np.zeros(shapes[i], np.float32))
    health.check()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T,B", EMPTY_TB, ids=lambda v: str(v))
@pytest.mark.parametrize("lengths", ["list", "int64", "uint8"])
def test_empty_with_lengths(kind, T, B, lengths):
    m = make(kind)
    lens = {"list": [0] * B, "int64": np.zeros(B, np.int64), "uint8": np.zeros(B, np.uint8)}[lengths]
    state = random_state(m, B, np.random.default_rng(1))
    got = call(m, np.zeros((T, B, 6), np.float32), state, lengths=lens)
    assert got[0].shape == (T, B, 2 * (m.proj_size or m.hidden_size))
    assert not got[0].any()
    for s, s0 in zip(got[1:], state if isinstance(state, tuple) else [state]):
        np.testing.assert_array_equal(s, s0)  # every length is 0: final state = initial state


@pytest.mark.parametrize("kind", KINDS)
def test_zero_lengths_in_a_batch(kind):
    """lengths == 0 for some rows: zero outputs and the initial state for those rows; the
    others as if alone."""
    m = make(kind)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3, 6)).astype(np.float32)
    state = random_state(m, 3, rng)
    got = call(m, x, state, lengths=[0, 5, 0])
    assert_matches_reference(got, ref(m, x, state, [0, 5, 0]))
    assert not got[0][:, [0, 2]].any()
    for s, s0 in zip(got[1:], state if isinstance(state, tuple) else [state]):
        np.testing.assert_array_equal(s[:, [0, 2]], s0[:, [0, 2]])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
def test_empty_unbatched_sequence(kind, with_state):
    m = make(kind)
    state = random_state(m, None, np.random.default_rng(3)) if with_state else None
    got = call(m, np.zeros((0, 6), np.float32), state)
    assert got[0].shape == (0, 2 * (m.proj_size or m.hidden_size))
    shapes = state_shapes(m, None)
    if with_state:
        init = list(state) if isinstance(state, tuple) else [state]
    else:
        init = [np.zeros(s, np.float32) for s in shapes]
    for s, s0 in zip(got[1:], init):
        np.testing.assert_array_equal(s, s0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
def test_empty_cell_batch(kind, dtype, with_state):
    c = make_cell(kind)
    health = Healthy(c)
    state = random_state(c, 0, np.random.default_rng(4)) if with_state else None
    got = call(c, np.zeros((0, 6), dtype), state)
    assert [g.shape for g in got] == [(0, 9)] * (2 if kind == "lstm" else 1)
    assert all(g.dtype == np.float32 for g in got)
    health.check()


@pytest.mark.parametrize("kind", KINDS)
def test_empty_batch_with_wrong_state_still_rejected(kind):
    m = make(kind)
    state = random_state(m, 1, np.random.default_rng(5))  # B = 1, x has B = 0
    with pytest.raises(ValueError, match=r"\b(h0|c0|state)\b"):
        call(m, np.zeros((4, 0, 6), np.float32), state)
    with pytest.raises(ValueError, match=r"\blengths\b"):
        call(m, np.zeros((4, 0, 6), np.float32), lengths=[0])


# --------------------------------------------------------------------------------------
# dtypes that are not real numbers: TypeError naming the argument
# --------------------------------------------------------------------------------------

NON_NUMERIC = {
    "bool": lambda s: np.ones(s, bool),
    "datetime64": lambda s: np.zeros(s, "M8[s]"),
    "timedelta64": lambda s: np.zeros(s, "m8[ms]"),
    "structured": lambda s: np.zeros(s, [("a", np.float32)]),
    "void": lambda s: np.zeros(s, "V4"),
    "list_of_complex": lambda s: np.full(s, 1 + 2j).tolist(),
    "list_with_None": lambda s: [None] + np.zeros(s).tolist()[1:] if len(s) else None,
    "list_of_str": lambda s: np.full(s, "0.5").tolist(),
    "object_of_str": lambda s: np.full(s, "0.5", dtype=object),
    "complex_f32_view": lambda s: np.zeros(s[:-1] + (2 * s[-1],), np.float32).view(np.complex64),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", NON_NUMERIC)
def test_layer_non_numeric_x(kind, name):
    m = make(kind)
    health = Healthy(m)
    with pytest.raises(TypeError, match=r"\bx\b"):
        call(m, NON_NUMERIC[name]((4, 2, 6)))
    health.check()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", NON_NUMERIC)
def test_cell_non_numeric_x_and_state(kind, name):
    c = make_cell(kind)
    health = Healthy(c)
    with pytest.raises(TypeError, match=r"\bx\b"):
        call(c, NON_NUMERIC[name]((2, 6)))
    good = np.zeros((2, 9), np.float32)
    bad = NON_NUMERIC[name]((2, 9))
    if kind == "lstm":
        with pytest.raises(TypeError, match=r"\bh\b"):
            c(np.zeros((2, 6), np.float32), (bad, good))
        with pytest.raises(TypeError, match=r"\bc\b"):
            c(np.zeros((2, 6), np.float32), (good, bad))
    else:
        with pytest.raises(TypeError, match=r"\bh\b"):
            c(np.zeros((2, 6), np.float32), bad)
    health.check()


@pytest.mark.parametrize("name", ["bool", "datetime64", "structured", "list_of_complex"])
def test_layer_non_numeric_states(name):
    m = make("lstm")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 2, 6)).astype(np.float32)
    h0, c0 = random_state(m, 2, rng)
    with pytest.raises(TypeError, match=r"\b(h0|state)\b"):
        m(x, (NON_NUMERIC[name](h0.shape), c0))
    with pytest.raises(TypeError, match=r"\b(c0|state)\b"):
        m(x, (h0, NON_NUMERIC[name](c0.shape)))
    g = make("gru")
    with pytest.raises(TypeError, match=r"\bh0\b"):
        g(x, NON_NUMERIC[name]((4, 2, 9)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lengths", [
    [True, False], np.array([1.0, 2.0], np.float16), np.array([1, 2], "m8[s]"), [[1, 2], [3]],
    np.array([1, 2], np.complex64), [1, None], (n for n in (1, 2)), {"a": 1},
], ids=["bool", "float16", "timedelta", "ragged", "complex", "None", "generator", "dict"])
def test_non_integer_lengths(kind, lengths):
    with pytest.raises((TypeError, ValueError), match=r"\blengths\b"):
        call(make(kind), np.zeros((3, 2, 6), np.float32), lengths=lengths)


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_out_of_range(kind):
    m = make(kind)
    x = np.zeros((3, 2, 6), np.float32)
    for lengths in (np.array([2**64 - 1, 1], np.uint64), np.array([-128, 1], np.int8), [4, 1], [3, -1],
                    np.array([[3, 3]]), np.int64(3), [3, 3, 3]):
        with pytest.raises(ValueError, match=r"\blengths\b"):
            call(m, x, lengths=lengths)
    # every integer dtype is accepted
    want = call(m, x, lengths=[3, 1])
    for dt in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.uint64):
        assert_all_equal(call(m, x, lengths=np.array([3, 1], dt)), want, str(dt))


# --------------------------------------------------------------------------------------
# other real dtypes: converted to float32; the result is exactly that of the converted input
# --------------------------------------------------------------------------------------

REAL_DTYPES = [np.float64, np.float16, np.longdouble, ">f8", ">f4", np.int8, np.uint16, np.int64]


def _values(shape, dtype, rng):
    v = rng.standard_normal(shape) * 3
    return (np.round(v) if np.dtype(dtype).kind in "iu" else v).astype(dtype)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", REAL_DTYPES, ids=lambda d: np.dtype(d).str)
def test_layer_converted_bitwise(kind, dtype):
    """Values that float32 cannot hold (float64, longdouble) are rounded the way astype rounds
    them: the result is bitwise that of the input converted first."""
    m = make(kind)
    rng = np.random.default_rng(8)
    x = _values((5, 3, 6), dtype, rng)
    state = random_state(m, 3, rng, lambda a: (a.astype(np.float64) / 3).astype(dtype))
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    state32 = tuple(map(f32, state)) if isinstance(state, tuple) else f32(state)
    assert_all_equal(call(m, x), call(m, f32(x)), "x")
    assert_all_equal(call(m, x, state), call(m, f32(x), state32), "x and state")
    assert_matches_reference(call(m, x, state), ref(m, f32(x), state32))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", REAL_DTYPES, ids=lambda d: np.dtype(d).str)
def test_cell_converted_bitwise(kind, dtype):
    c = make_cell(kind)
    rng = np.random.default_rng(9)
    x = _values((3, 6), dtype, rng)
    state = random_state(c, 3, rng, lambda a: a.astype(dtype))
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    state32 = tuple(map(f32, state)) if isinstance(state, tuple) else f32(state)
    assert_all_equal(call(c, x), call(c, f32(x)))
    assert_all_equal(call(c, x, state), call(c, f32(x), state32))
    assert_all_equal(call(c, x[0]), call(c, f32(x[0])))  # unbatched


@pytest.mark.parametrize("kind", KINDS)
def test_float64_beyond_float32_range_becomes_inf(kind):
    """1e300 is +inf in float32: converted without a warning (pytest turns warnings into
    errors here), then computed like an explicit inf."""
    m = make(kind)
    x = np.random.default_rng(10).standard_normal((4, 2, 6))
    x[1, 0, 2], x[2, 1, 4] = 1e300, -1e300
    x32 = np.where(np.abs(x) > 1e38, np.sign(x) * np.inf, x).astype(np.float32)
    assert_all_equal(call(m, x), call(m, x32))
    assert_matches_reference(call(m, x), ref(m, x32))


# --------------------------------------------------------------------------------------
# memory layouts: negative strides, read-only, misaligned, broadcast
# --------------------------------------------------------------------------------------


def misaligned(a):
    """A C-contiguous copy of ``a`` at an odd byte address (NumPy flags it unaligned)."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def read_only(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True], ids=["seqfirst", "batchfirst"])
def test_layer_layouts(kind, batch_first):
    m = make(kind, batch_first=batch_first)
    health = Healthy(m)
    rng = np.random.default_rng(11)
    x = rng.standard_normal(x_shape(m, 7, 4)).astype(np.float32)
    lengths = np.array([7, 3, 0, 5])
    state = random_state(m, 4, rng)

    def as_tuple(s):
        return s if isinstance(s, tuple) else (s,)

    def unwrap(s):
        return s if isinstance(state, tuple) else s[0]

    cases = {
        "time_reversed": x[::-1] if not batch_first else x[:, ::-1],
        "batch_reversed": x[:, ::-1] if not batch_first else x[::-1],
        "features_reversed": x[..., ::-1],
        "all_reversed": x[::-1, ::-1, ::-1],
        "read_only": read_only(x),
        "read_only_reversed": read_only(x)[::-1],
        "read_only_f64": read_only(x.astype(np.float64)),
        "fortran": np.asfortranarray(x),
        "fortran_read_only": read_only(np.asfortranarray(x)),
        "misaligned": misaligned(x),
        "misaligned_f64": misaligned(x.astype(np.float64)),
        "broadcast_batch": np.broadcast_to(x[:, :1] if not batch_first else x[:1], x.shape),
    }
    for name, xv in cases.items():
        want_x = np.ascontiguousarray(xv, dtype=np.float32)
        assert_all_equal(call(m, xv), call(m, want_x), name)
        assert_all_equal(call(m, xv, state, lengths), call(m, want_x, state, lengths), name + " with state")
    # states and lengths in the same layouts
    want = call(m, x, state, lengths)
    for name, conv in [("reversed", lambda a: np.ascontiguousarray(a[::-1])[::-1]),
                       ("read_only", read_only), ("misaligned", misaligned),
                       ("fortran", np.asfortranarray),
                       ("read_only_fortran", lambda a: read_only(np.asfortranarray(a)))]:
        conv_state = unwrap(tuple(conv(s) for s in as_tuple(state)))
        assert_all_equal(call(m, x, conv_state, conv(lengths)), want, "state, lengths " + name)
        assert_all_equal(call(m, conv(x), conv_state, conv(lengths)), want, "x, state, lengths " + name)
    # inputs are never written to
    assert_matches_reference(want, ref(m, x, state, lengths))
    health.check()


@pytest.mark.parametrize("kind", KINDS)
def test_relaxed_strides_fast_path(kind):
    """NumPy calls an array with a reversed size-1 axis C-contiguous (the stride of a size-1
    axis is never used): such arrays take the fast path and must give the same result."""
    m = make(kind, num_layers=1, bidirectional=False)
    x = np.random.default_rng(12).standard_normal((5, 1, 6)).astype(np.float32)
    odd = x[:, ::-1]
    assert odd.flags.c_contiguous and odd.strides[1] < 0
    assert_all_equal(call(m, odd), call(m, x))
    c = make_cell(kind)
    x2 = x[0]
    odd2 = x2[::-1]
    assert odd2.flags.c_contiguous
    assert_all_equal(call(c, odd2), call(c, x2))


@pytest.mark.parametrize("kind", KINDS)
def test_cell_layouts(kind):
    c = make_cell(kind)
    health = Healthy(c)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    state = random_state(c, 4, rng)
    states = state if isinstance(state, tuple) else (state,)
    want = call(c, x, state)
    for name, conv in [("reversed", lambda a: np.ascontiguousarray(a[::-1])[::-1]),
                       ("read_only", read_only), ("misaligned", misaligned), ("fortran", np.asfortranarray),
                       ("strided", lambda a: np.repeat(a, 2, axis=-1)[..., ::2]),
                       ("read_only_reversed", lambda a: read_only(np.ascontiguousarray(a[::-1]))[::-1])]:
        s = tuple(conv(v) for v in states)
        got = call(c, conv(x), s if isinstance(state, tuple) else s[0])
        assert_all_equal(got, want, name)
    assert_all_equal(call(c, x[::-1]), call(c, np.ascontiguousarray(x[::-1])), "batch reversed")
    assert_all_equal(call(c, memoryview(x)), call(c, x), "memoryview")
    health.check()


# --------------------------------------------------------------------------------------
# objects with __array__ (and torch tensors)
# --------------------------------------------------------------------------------------


class ArrayLike:
    """The smallest object NumPy converts: only ``__array__``."""

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


class BrokenArray:
    def __init__(self, exc):
        self.exc = exc

    def __array__(self, dtype=None, copy=None):
        raise self.exc


@pytest.mark.parametrize("kind", KINDS)
def test_array_like_inputs(kind):
    m = make(kind)
    health = Healthy(m)
    rng = np.random.default_rng(14)
    x = rng.standard_normal((5, 3, 6))
    state = random_state(m, 3, rng)
    lengths = np.array([5, 2, 4])
    wrap_state = tuple(map(ArrayLike, state)) if isinstance(state, tuple) else ArrayLike(state)
    want = call(m, x.astype(np.float32), state, lengths)
    assert_all_equal(call(m, ArrayLike(x), wrap_state, ArrayLike(lengths)), want)
    assert_all_equal(call(m, ArrayLike(x.astype(np.float32))), call(m, x.astype(np.float32)))
    c = make_cell(kind)
    assert_all_equal(call(c, ArrayLike(x[0])), call(c, x[0].astype(np.float32)))
    sd = {k: ArrayLike(v) for k, v in m.state_dict().items()}
    m2 = make(kind)
    m2.load_state_dict(sd)
    assert_all_equal(call(m2, x, state, lengths), want)
    health.check()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("exc", [RuntimeError("no"), ValueError("no"), TypeError("no"), KeyError("no")],
                         ids=lambda e: type(e).__name__)
def test_array_like_that_raises(kind, exc):
    m = make(kind)
    health = Healthy(m)
    with pytest.raises(TypeError, match=r"\bx\b"):
        call(m, BrokenArray(exc))
    with pytest.raises(TypeError, match=r"\b(h0|state)\b"):
        call(m, np.zeros((2, 3, 6), np.float32), BrokenArray(exc) if kind == "gru" else (BrokenArray(exc), None))
    with pytest.raises(TypeError, match=r"\blengths\b"):
        call(m, np.zeros((2, 3, 6), np.float32), lengths=BrokenArray(exc))
    with pytest.raises(TypeError, match=r"\bx\b"):
        call(make_cell(kind), BrokenArray(exc))
    sd = m.state_dict()
    sd[next(iter(sd))] = BrokenArray(exc)
    with pytest.raises(TypeError, match=next(iter(sd))):
        m.load_state_dict(sd)
    health.check()


def test_array_like_memory_error_is_not_disguised():
    """A MemoryError while converting stays a MemoryError (not a TypeError)."""
    m = make("lstm")
    with pytest.raises(MemoryError):
        call(m, BrokenArray(MemoryError()))
    with pytest.raises(MemoryError):
        call(m, np.zeros((2, 3, 6), np.float32), lengths=BrokenArray(MemoryError()))


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("kind", KINDS)
def test_torch_tensors(torch, kind):
    m = make(kind)
    health = Healthy(m)
    rng = np.random.default_rng(15)
    x = rng.standard_normal((5, 3, 6)).astype(np.float32)
    state = random_state(m, 3, rng)
    lengths = [5, 1, 3]
    want = call(m, x, state, lengths)
    t = torch.from_numpy
    tstate = tuple(map(t, state)) if isinstance(state, tuple) else t(state)
    assert_all_equal(call(m, t(x), tstate, torch.tensor(lengths)), want, "float32 tensors")
    assert_all_equal(call(m, t(x).double(), tstate, torch.tensor(lengths, dtype=torch.int32)), want, "float64")
    assert_all_equal(call(m, t(x).half()), call(m, t(x).half().float().numpy()), "float16")
    tx = t(np.ascontiguousarray(x.transpose(1, 0, 2))).transpose(0, 1)  # non-contiguous tensor
    assert not tx.is_contiguous()
    assert_all_equal(call(m, tx, tstate, lengths), want, "non-contiguous")
    with pytest.raises(TypeError, match=r"\bx\b"):
        call(m, t(x).requires_grad_())  # NumPy refuses: a clear TypeError naming x
    with pytest.raises(TypeError, match=r"\bx\b"):
        call(m, t(x).to(torch.bfloat16))
    with pytest.raises(TypeError, match=r"\bx\b"):
        call(m, t(x).to(torch.complex64))
    with pytest.raises(TypeError, match=r"\bx\b"):
        call(m, t(x) > 0)  # bool
    c = make_cell(kind)
    assert_all_equal(call(c, t(x[0])), call(c, x[0]), "cell")
    health.check()


# --------------------------------------------------------------------------------------
# NaN and Inf: propagated as the reference does, no crash, other rows unaffected
# --------------------------------------------------------------------------------------

SPECIALS = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "max": np.finfo(np.float32).max}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", SPECIALS, ids=str)
@pytest.mark.parametrize("where", ["x", "h0", "c0", "x_everywhere"])
def test_layer_special_values(kind, value, where):
    if where == "c0" and kind != "lstm":
        pytest.skip("a GRU has no cell state")
    m = make(kind)
    health = Healthy(m)
    rng = np.random.default_rng(16)
    x = rng.standard_normal((6, 4, 6)).astype(np.float32)
    state = random_state(m, 4, rng)
    lengths = [6, 4, 6, 3]
    clean = call(m, x, state, lengths)
    v = SPECIALS[value]
    if where == "x":
        x = x.copy()
        x[2, 1, 3] = v
    elif where == "x_everywhere":
        x = x.copy()
        x[:, 1] = v
    else:
        state = tuple(s.copy() for s in state) if isinstance(state, tuple) else state.copy()
        target = state[0 if where == "h0" else 1] if isinstance(state, tuple) else state
        target[:, 1, 0] = v
    got = call(m, x, state, lengths)
    if not (value == "max" and where == "x_everywhere"):
        # (float32 sums of several +-max terms overflow where float64 ones cancel: the
        # reference is another computation there)
        assert_matches_reference(got, ref(m, x, state, lengths), f"{value} in {where}")
    for a, b in zip(got, clean):  # rows other than 1 are bitwise unaffected
        keep = [0, 2, 3]
        np.testing.assert_array_equal(a[:, keep], b[:, keep])
    if value == "nan":  # row 1 (length 4) is NaN inside its length, still 0 past it
        assert np.isnan(got[0][:4, 1]).any()
    np.testing.assert_array_equal(got[0][4:, 1], 0)
    health.check()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_garbage_past_lengths_is_ignored(kind, value):
    """Padding (t >= length) is never read: NaN or inf there changes nothing, bitwise."""
    m = make(kind)
    rng = np.random.default_rng(17)
    x = rng.standard_normal((6, 3, 6)).astype(np.float32)
    lengths = [6, 2, 0]
    clean = call(m, x, None, lengths)
    dirty = x.copy()
    dirty[2:, 1] = SPECIALS[value]
    dirty[:, 2] = SPECIALS[value]
    assert_all_equal(call(m, dirty, None, lengths), clean)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", SPECIALS, ids=str)
def test_cell_special_values(kind, value):
    c = make_cell(kind)
    health = Healthy(c)
    rng = np.random.default_rng(18)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    state = random_state(c, 3, rng)
    clean = call(c, x, state)
    x[1, 2] = SPECIALS[value]
    got = call(c, x, state)
    assert_matches_reference(got, ref(c, x, state))
    for a, b in zip(got, clean):
        np.testing.assert_array_equal(a[[0, 2]], b[[0, 2]])
    health.check()


# --------------------------------------------------------------------------------------
# state_dict: non-finite entries raise ValueError naming the key; the model is unchanged
# --------------------------------------------------------------------------------------

STATE_DICT_MODELS = {
    "lstm": lambda: make("lstm"),
    "gru": lambda: make("gru"),
    "lstm_cell": lambda: make_cell("lstm"),
    "gru_cell": lambda: make_cell("gru"),
}


@pytest.mark.parametrize("model", STATE_DICT_MODELS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "f64_overflow"])
def test_load_state_dict_non_finite(model, value):
    m = STATE_DICT_MODELS[model]()
    health = Healthy(m)
    sd = m.state_dict()
    before = m.state_dict()
    for key in sd:
        broken = dict(sd)
        bad = sd[key].astype(np.float64 if value == "f64_overflow" else np.float32)
        bad.flat[bad.size // 2] = 1e300 if value == "f64_overflow" else SPECIALS[value]
        broken[key] = bad
        with pytest.raises(ValueError, match=rf"'{key}'.*non-finite") as info:
            m.load_state_dict(broken)
        idx = np.unravel_index(bad.size // 2, bad.shape)
        assert str(tuple(int(i) for i in idx)).rstrip(",)") in str(info.value), str(info.value)
        after = m.state_dict()
        for k in before:
            np.testing.assert_array_equal(after[k], before[k], err_msg=k)
    health.check()


def test_load_state_dict_not_a_mapping():
    m = make("gru")
    health = Healthy(m)
    for bad in (None, [("weight_ih_l0", 1)], "weights", 3, np.zeros(3)):
        with pytest.raises(TypeError, match="state_dict"):
            m.load_state_dict(bad)
    health.check()


# --------------------------------------------------------------------------------------
# sizes: the core's int limits (ValueError), allocations that cannot succeed (MemoryError)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_model,exc", [
    (lambda: gatedrnn.LSTM(1, 2**20), MemoryError),  # 4 * 2**40 weights: 16 TiB
    (lambda: gatedrnn.GRU(2**20, 2**16), MemoryError),
    (lambda: gatedrnn.LSTMCell(1, 2**18), MemoryError),
    (lambda: gatedrnn.LSTM(1, 1, num_layers=10**9), MemoryError),  # no loop over 10**9 layers first
    (lambda: gatedrnn.LSTM(1, 2**29), ValueError),  # 4 * hidden_size overflows a C int
    (lambda: gatedrnn.GRU(1, 2**40), ValueError),
    (lambda: gatedrnn.GRUCell(2**31, 1), ValueError),
    (lambda: gatedrnn.LSTM(1, 1, num_layers=2**31), ValueError),
    (lambda: gatedrnn.GRU(1, 1, num_layers=2**30, bidirectional=True), ValueError),
], ids=["lstm_H2^20", "gru_I2^20", "lstmcell_H2^18", "layers1e9", "lstm_H2^29", "gru_H2^40",
        "grucell_I2^31", "layers2^31", "bidir_layers2^30"])
def test_model_too_large(make_model, exc):
    """Refused before anything is allocated: quickly, whatever the OS's overcommit policy."""
    with pytest.raises(exc, match=r"hidden_size|input_size|num_layers|GiB"):
        make_model()


def test_absurd_thread_counts():
    """A thread count the core cannot take is refused where it is given (a model's
    num_threads) or clamped (the process-wide default): it never breaks later calls."""
    with pytest.raises(ValueError, match="num_threads"):
        gatedrnn.LSTM(4, 8, num_threads=2**31)
    before = gatedrnn.get_num_threads()
    x = np.random.default_rng(19).standard_normal((3, 2, 4)).astype(np.float32)
    m = gatedrnn.GRU(4, 8, seed=0)
    want = m(x)[0]
    try:
        try:
            gatedrnn.set_num_threads(2**40)
        except (ValueError, TypeError):
            pass
        np.testing.assert_array_equal(m(x)[0], want)
        np.testing.assert_array_equal(gatedrnn.GRUCell(4, 8, seed=0)(x[0]), gatedrnn.GRU(4, 8, seed=0)(x[:1])[1][0])
    finally:
        gatedrnn.set_num_threads(before)


@pytest.mark.skipif(not asan_returns_null(), reason="ASan aborts on a failed huge allocation "
                    "unless ASAN_OPTIONS has allocator_may_return_null=1")
@pytest.mark.parametrize("kind", KINDS)
def test_huge_broadcast_input(kind):
    """A 1 PiB input (a broadcast view of 32 bytes): the float32 copy cannot be allocated on
    any machine (beyond a 47-bit address space): MemoryError, and the model still works."""
    m = make(kind, I=8, num_layers=1, bidirectional=False)
    health = Healthy(m)
    for dtype in (np.float32, np.float64):
        x = np.broadcast_to(np.ones(8, dtype), (2**23, 2**22, 8))
        with pytest.raises(MemoryError):
            call(m, x)
        with pytest.raises(MemoryError):
            call(m, x, lengths=np.zeros(2**22, np.int64))
    c = make_cell(kind)
    with pytest.raises(MemoryError):
        call(c, np.broadcast_to(np.ones(6, np.float32), (2**47, 6)))
    health.check()


@pytest.mark.parametrize("kind", KINDS)
def test_too_many_steps_or_rows(kind):
    """T or B beyond what the core indexes: ValueError, even when x holds no data."""
    m = make(kind, I=1, num_layers=1, bidirectional=False)
    for shape in [(2**40, 0, 1), (0, 2**40, 1), (2**31 + 1, 0, 1)]:
        for dtype in (np.float32, np.float64):
            with pytest.raises((ValueError, MemoryError), match=r"\bx\b|alloc"):
                call(m, np.zeros(shape, dtype))


@pytest.mark.skipif(sys.platform != "linux" or under_asan(), reason="Linux without ASan: lazily "
                    "allocated 16 GiB buffers")
def test_cell_batch_beyond_int32():
    """A cell batch of 2**32 + 1 rows (x zeros, lazily mapped): the core must refuse it, not
    run it as a batch of 1 (the row count truncated to a C int)."""
    c = gatedrnn.GRUCell(1, 1, seed=0)
    try:
        x = np.zeros((2**32 + 1, 1), np.float32)
    except MemoryError:
        pytest.skip("this machine does not map a 16 GiB zero buffer")
    try:
        h = c(x)
    except (ValueError, MemoryError):
        return
    want = c(np.zeros((1, 1), np.float32))[0]
    assert np.array_equal(h[2**32], want), "rows past 2**31 were not computed"


_RLIMIT_SCRIPT = r"""
import resource, sys
import numpy as np
import gatedrnn
from gatedrnn import reference

def vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

x0 = np.random.default_rng(0).standard_normal((5, 3, 1)).astype(np.float32)
lstm, gru, cell = gatedrnn.LSTM(1, 8, seed=0), gatedrnn.GRU(1, 8, seed=0), gatedrnn.LSTMCell(1, 8, seed=0)
want = [lstm(x0)[0], gru(x0)[0], cell(x0[0])[0]]

def healthy():
    got = [lstm(x0)[0], gru(x0)[0], cell(x0[0])[0]]
    assert all(np.array_equal(a, b) for a, b in zip(got, want)), "results changed"
    np.testing.assert_allclose(got[0], reference.lstm(x0, lstm.state_dict())[0], rtol=1e-5, atol=2e-5)

headroom = 2 << 30
resource.setrlimit(resource.RLIMIT_AS, (vm_size() + headroom, resource.RLIM_INFINITY))
TB = 2**25  # x 128 MiB of lazily mapped zeros; the gx workspace would be 8 GiB, y 1 GiB
# (Batches of 8 rows or more fold the input projection into the steps and need no gx:
# these cases use 4 rows.)
cases = {
    "fast_path_workspace": lambda: lstm(np.zeros((TB // 4, 4, 1), np.float32)),
    "fast_path_workspace_gru": lambda: gru(np.zeros((TB // 4, 4, 1), np.float32)),
    "converting_path_workspace": lambda: lstm(np.broadcast_to(np.float32(1), (TB // 4, 4, 1))),
    "state_outputs_empty_T": lambda: lstm(np.zeros((0, 2**28, 1), np.float32)),  # h_n, c_n 8 GiB each
    "cell_outputs": lambda: cell(np.zeros((2**26, 1), np.float32)),  # h, c 2 GiB each
    "model_weights": lambda: gatedrnn.LSTM(1, 2**14),  # 4 GiB: under the RAM check, over the limit
    "stream_state": lambda: lstm.stream(batch_size=2**28),
}
for name, case in cases.items():
    try:
        case()
    except MemoryError:
        healthy()
        print(name, "MemoryError", flush=True)
    else:
        print(name, "no error", flush=True)
print("done", flush=True)
"""


@pytest.mark.skipif(sys.platform != "linux" or under_asan(),
                    reason="RLIMIT_AS (address-space limit) on Linux; ASan needs a huge address space")
def test_allocation_failures_under_address_space_limit():
    """With the address space limited (so every overcommit policy fails the same way), the
    allocations of a call or a model that do not fit raise MemoryError, and the process
    keeps working. Runs in a subprocess: a crash there fails this test, not the suite."""
    proc = subprocess.run([sys.executable, "-c", _RLIMIT_SCRIPT], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "error"})
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert lines[-1] == "done", proc.stdout
    results = dict(line.split(" ", 1) for line in lines[:-1])
    assert set(results.values()) == {"MemoryError"}, results
