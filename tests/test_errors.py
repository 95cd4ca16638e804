"""Bad input: ValueError / TypeError naming the argument and showing the received
shape (or dtype); and input conversion (dtypes, memory orders, no needless copy)."""

import re
import tracemalloc

import numpy as np
import pytest

import gatedrnn

KINDS = ("lstm", "gru")


def shape_re(shape):
    """Regex for a shape printed as a Python tuple: (5, 2, 7), (7,), ()."""
    inner = r",\s*".join(str(int(n)) for n in shape)
    return r"\(" + inner + (r",?" if len(shape) == 1 else "") + r"\)"


def msg_re(*parts):
    """Regex matching a message that contains every part (any order)."""
    return "(?s)^" + "".join(f"(?=.*{p})" for p in parts)


X = r"\bx\b"
H0 = r"(\bh0\b|\bstate\b)"
C0 = r"(\bc0\b|\bstate\b)"
LENGTHS = r"\blengths\b"


def layer(kind, I=16, H=8, **kw):
    if kind == "lstm":
        return gatedrnn.LSTM(I, H, seed=0, **kw)
    kw.pop("proj_size", None)
    return gatedrnn.GRU(I, H, seed=0, **kw)


def cell(kind, I=16, H=8, **kw):
    return (gatedrnn.LSTMCell if kind == "lstm" else gatedrnn.GRUCell)(I, H, seed=0, **kw)


def f32(*shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------------------
# x: ndim and feature size
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(16,), (2, 3, 4, 16), (), (5, 2, 7), (5, 7), (5, 2, 17), (5, 2, 0)])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seqfirst", "batchfirst"])
def test_layer_x_bad_shape(kind, shape, batch_first):
    m = layer(kind, batch_first=batch_first)
    with pytest.raises(ValueError, match=msg_re(X, shape_re(shape))):
        m(np.zeros(shape, np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_layer_x_message_shows_expected(kind):
    with pytest.raises(ValueError, match=msg_re(X, r"16", shape_re((5, 2, 7)))):
        layer(kind)(np.zeros((5, 2, 7), np.float32))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 16), (), (2, 3, 16), (3, 7), (7,), (3, 17)])
def test_cell_x_bad_shape(kind, shape):
    with pytest.raises(ValueError, match=msg_re(X, shape_re(shape))):
        cell(kind)(np.zeros(shape, np.float32))


# --------------------------------------------------------------------------------------
# states
# --------------------------------------------------------------------------------------

# LSTM(16, 8, num_layers=2, bidirectional=True, proj_size=3), x (5, 2, 16):
# h0 (4, 2, 3), c0 (4, 2, 8)
LSTM_BAD_H0 = [(2, 2, 3), (4, 3, 3), (4, 2, 8), (4, 3), (4, 2, 3, 1), (4, 1, 3)]
LSTM_BAD_C0 = [(2, 2, 8), (4, 3, 8), (4, 2, 3), (4, 2), (4, 2, 9)]


@pytest.mark.parametrize("shape", LSTM_BAD_H0, ids=str)
def test_lstm_bad_h0(shape):
    m = gatedrnn.LSTM(16, 8, num_layers=2, bidirectional=True, proj_size=3, seed=0)
    with pytest.raises(ValueError, match=msg_re(H0, shape_re(shape))):
        m(f32(5, 2, 16), (f32(*shape), f32(4, 2, 8)))


@pytest.mark.parametrize("shape", LSTM_BAD_C0, ids=str)
def test_lstm_bad_c0(shape):
    m = gatedrnn.LSTM(16, 8, num_layers=2, bidirectional=True, proj_size=3, seed=0)
    with pytest.raises(ValueError, match=msg_re(C0, shape_re(shape))):
        m(f32(5, 2, 16), (f32(4, 2, 3), f32(*shape)))


def test_lstm_state_message_shows_expected():
    m = gatedrnn.LSTM(16, 8, num_layers=2, bidirectional=True, proj_size=3, seed=0)
    with pytest.raises(ValueError, match=msg_re(H0, shape_re((4, 2, 3)), shape_re((4, 2, 8)))):
        m(f32(5, 2, 16), (f32(4, 2, 8), f32(4, 2, 8)))


@pytest.mark.parametrize(
    "state",
    [f32(4, 2, 3), [f32(4, 2, 3)], (f32(4, 2, 3),), (f32(4, 2, 3), f32(4, 2, 8), f32(4, 2, 8)), 3.0, "h0"],
    ids=["array", "list1", "tuple1", "tuple3", "float", "str"],
)
def test_lstm_state_not_a_pair(state):
    m = gatedrnn.LSTM(16, 8, num_layers=2, bidirectional=True, proj_size=3, seed=0)
    with pytest.raises((TypeError, ValueError), match=r"\bstate\b"):
        m(f32(5, 2, 16), state)


def test_lstm_unbatched_with_batched_state():
    m = gatedrnn.LSTM(16, 8, seed=0)
    with pytest.raises(ValueError, match=msg_re(H0, shape_re((1, 1, 8)))):
        m(f32(5, 16), (f32(1, 1, 8), f32(1, 1, 8)))


@pytest.mark.parametrize("shape", [(2, 2, 8), (4, 3, 8), (4, 2, 7), (4, 2), (4, 2, 8, 1)], ids=str)
def test_gru_bad_h0(shape):
    m = gatedrnn.GRU(16, 8, num_layers=2, bidirectional=True, seed=0)
    with pytest.raises(ValueError, match=msg_re(r"\bh0\b", shape_re(shape))):
        m(f32(5, 2, 16), f32(*shape))


def test_gru_unbatched_with_batched_h0():
    m = gatedrnn.GRU(16, 8, seed=0)
    with pytest.raises(ValueError, match=msg_re(r"\bh0\b", shape_re((1, 1, 8)))):
        m(f32(5, 16), f32(1, 1, 8))


def test_gru_h0_tuple_rejected():
    m = gatedrnn.GRU(16, 8, seed=0)
    with pytest.raises((TypeError, ValueError), match=r"\bh0\b"):
        m(f32(5, 2, 16), (f32(1, 2, 8), f32(1, 2, 8)))


@pytest.mark.parametrize("shape", [(3, 7), (2, 8), (8,), (1, 3, 8)], ids=str)
def test_cell_bad_state(shape):
    x = f32(3, 16)
    with pytest.raises(ValueError, match=shape_re(shape)):
        cell("lstm")(x, (f32(*shape), f32(3, 8)))
    with pytest.raises(ValueError, match=shape_re(shape)):
        cell("lstm")(x, (f32(3, 8), f32(*shape)))
    with pytest.raises(ValueError, match=msg_re(r"\bh\b", shape_re(shape))):
        cell("gru")(x, f32(*shape))


def test_cell_state_not_a_pair():
    with pytest.raises((TypeError, ValueError), match=r"\bstate\b"):
        cell("lstm")(f32(3, 16), f32(3, 8))


# --------------------------------------------------------------------------------------
# lengths
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "lengths,exc",
    [
        ([5, 5], ValueError),  # wrong count
        ([5, 5, 5, 5], ValueError),
        ([[5, 5, 5]], ValueError),  # 2-D
        (5, ValueError),  # scalar
        ([5, -1, 2], ValueError),  # negative
        ([5, 6, 2], ValueError),  # > T
        ([5, 2**40, 2], ValueError),
        ([5.0, 2.0, 1.0], (TypeError, ValueError)),  # float
        ([2.5, 2.0, 1.0], (TypeError, ValueError)),
        (["5", "5", "5"], (TypeError, ValueError)),
        (np.array([5, 5, 5], dtype=object), (TypeError, ValueError)),
        ([5 + 0j, 5, 5], (TypeError, ValueError)),
    ],
    ids=["count2", "count4", "2d", "scalar", "negative", "gtT", "huge", "float", "fraction",
         "str", "object", "complex"],
)
def test_bad_lengths(kind, lengths, exc):
    with pytest.raises(exc, match=LENGTHS):
        layer(kind)(f32(5, 3, 16), lengths=lengths)


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_count_message(kind):
    with pytest.raises(ValueError, match=msg_re(LENGTHS, shape_re((2,)), r"3")):
        layer(kind)(f32(5, 3, 16), lengths=[5, 5])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lengths", [[5], 5, [3]], ids=str)
def test_lengths_with_unbatched_input(kind, lengths):
    with pytest.raises(ValueError, match=LENGTHS):
        layer(kind)(f32(5, 16), lengths=lengths)


# --------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------

BAD_DTYPES = [
    ("str", lambda s: np.full(s, "a"), r"(U1|str)"),
    ("bytes", lambda s: np.full(s, b"a"), r"(S1|bytes)"),
    ("object", lambda s: np.full(s, 1.0, dtype=object), r"object"),
    ("complex64", lambda s: np.ones(s, np.complex64), r"complex"),
    ("complex128", lambda s: np.ones(s, np.complex128), r"complex"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name,make,dtype_re", BAD_DTYPES, ids=[d[0] for d in BAD_DTYPES])
def test_layer_x_bad_dtype(kind, name, make, dtype_re):
    with pytest.raises(TypeError, match=msg_re(X, dtype_re)):
        layer(kind)(make((5, 2, 16)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name,make,dtype_re", BAD_DTYPES, ids=[d[0] for d in BAD_DTYPES])
def test_cell_x_bad_dtype(kind, name, make, dtype_re):
    with pytest.raises(TypeError, match=msg_re(X, dtype_re)):
        cell(kind)(make((3, 16)))


@pytest.mark.parametrize("name,make,dtype_re", BAD_DTYPES, ids=[d[0] for d in BAD_DTYPES])
def test_state_bad_dtype(name, make, dtype_re):
    with pytest.raises(TypeError, match=msg_re(H0, dtype_re)):
        layer("lstm")(f32(5, 2, 16), (make((1, 2, 8)), f32(1, 2, 8)))
    with pytest.raises(TypeError, match=msg_re(C0, dtype_re)):
        layer("lstm")(f32(5, 2, 16), (f32(1, 2, 8), make((1, 2, 8))))
    with pytest.raises(TypeError, match=msg_re(r"\bh0\b", dtype_re)):
        layer("gru")(f32(5, 2, 16), make((1, 2, 8)))


def test_x_not_an_array():
    with pytest.raises((TypeError, ValueError), match=X):
        layer("lstm")("hello")
    with pytest.raises((TypeError, ValueError), match=X):
        layer("gru")(None)


# --------------------------------------------------------------------------------------
# load_state_dict
# --------------------------------------------------------------------------------------

STATE_DICT_MODELS = {
    "lstm": lambda: gatedrnn.LSTM(16, 8, num_layers=2, bidirectional=True, proj_size=3, seed=0),
    "lstm_nobias": lambda: gatedrnn.LSTM(16, 8, num_layers=2, bias=False, seed=0),
    "gru": lambda: gatedrnn.GRU(16, 8, num_layers=2, bidirectional=True, seed=0),
    "gru_nolbr_nobias": lambda: gatedrnn.GRU(16, 8, bias=False, linear_before_reset=False, seed=0),
    "lstm_cell": lambda: gatedrnn.LSTMCell(16, 8, seed=0),
    "gru_cell": lambda: gatedrnn.GRUCell(16, 8, seed=0),
}


@pytest.mark.parametrize("model", STATE_DICT_MODELS)
def test_load_state_dict_missing_each_key(model):
    m = STATE_DICT_MODELS[model]()
    sd = m.state_dict()
    for key in sd:
        broken = {k: v for k, v in sd.items() if k != key}
        with pytest.raises(ValueError, match=re.escape(key) + r"\b"):
            m.load_state_dict(broken)


EXTRA_KEYS = ["foo", "weight_ih_l2", "bias_ih_l0", "bias_hh", "weight_hr_l0", "weight_ih_l0_reverse",
              "weight_ih_l0 ", "weight_ih"]


@pytest.mark.parametrize("model", STATE_DICT_MODELS)
def test_load_state_dict_extra_key(model):
    m = STATE_DICT_MODELS[model]()
    sd = m.state_dict()
    for extra in EXTRA_KEYS:
        if extra in sd:
            continue  # a valid key of this model
        broken = dict(sd)
        broken[extra] = np.zeros((32, 16), np.float32)
        with pytest.raises(ValueError, match=re.escape(repr(extra)[1:-1])):
            m.load_state_dict(broken)


@pytest.mark.parametrize("model", STATE_DICT_MODELS)
def test_load_state_dict_misshapen_each_key(model):
    m = STATE_DICT_MODELS[model]()
    sd = m.state_dict()
    for key, value in sd.items():
        for bad in (value.T if value.ndim == 2 and value.shape[0] != value.shape[1] else None,
                    value[:-1], value[None], np.zeros(value.shape + (1,), np.float32)):
            if bad is None:
                continue
            broken = dict(sd)
            broken[key] = bad
            with pytest.raises(ValueError) as info:
                m.load_state_dict(broken)
            msg = str(info.value)
            assert re.search(re.escape(key) + r"\b", msg), msg
            assert re.search(shape_re(bad.shape), msg), f"received shape {bad.shape} not in: {msg}"
            assert re.search(shape_re(value.shape), msg), f"expected shape {value.shape} not in: {msg}"


@pytest.mark.parametrize("model", STATE_DICT_MODELS)
def test_load_state_dict_bad_dtype(model):
    m = STATE_DICT_MODELS[model]()
    sd = m.state_dict()
    key = next(iter(sd))
    for bad in (np.full(sd[key].shape, "a"), sd[key].astype(np.complex64)):
        broken = dict(sd)
        broken[key] = bad
        with pytest.raises((TypeError, ValueError), match=re.escape(key)):
            m.load_state_dict(broken)


def test_load_state_dict_failure_keeps_model_usable():
    m = gatedrnn.LSTM(16, 8, num_layers=2, seed=0)
    x = f32(4, 2, 16)
    sd = m.state_dict()
    broken = dict(sd)
    broken["weight_hh_l1"] = sd["weight_hh_l1"][:-1]
    with pytest.raises(ValueError):
        m.load_state_dict(broken)
    m.load_state_dict(sd)
    y, _ = m(x)
    y2, _ = gatedrnn.LSTM(16, 8, num_layers=2, seed=0)(x)
    np.testing.assert_array_equal(y, y2)


# --------------------------------------------------------------------------------------
# constructor arguments
# --------------------------------------------------------------------------------------

BAD_CTOR = [
    ("input_size", dict(input_size=0)),
    ("input_size", dict(input_size=-1)),
    ("hidden_size", dict(hidden_size=0)),
    ("hidden_size", dict(hidden_size=-3)),
    ("num_layers", dict(num_layers=0)),
    ("num_layers", dict(num_layers=-1)),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("arg,kw", BAD_CTOR, ids=[f"{a}={list(k.values())[0]}" for a, k in BAD_CTOR])
def test_layer_bad_constructor_args(kind, arg, kw):
    args = dict(input_size=4, hidden_size=8)
    args.update(kw)
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    with pytest.raises(ValueError, match=arg):
        cls(**args)


@pytest.mark.parametrize("proj_size", [8, 9, 100, -1])
def test_lstm_bad_proj_size(proj_size):
    with pytest.raises(ValueError, match="proj_size"):
        gatedrnn.LSTM(4, 8, proj_size=proj_size)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("arg,kw", BAD_CTOR[:4], ids=[f"{a}={list(k.values())[0]}" for a, k in BAD_CTOR[:4]])
def test_cell_bad_constructor_args(kind, arg, kw):
    args = dict(input_size=4, hidden_size=8)
    args.update(kw)
    cls = gatedrnn.LSTMCell if kind == "lstm" else gatedrnn.GRUCell
    with pytest.raises(ValueError, match=arg):
        cls(**args)


@pytest.mark.parametrize("cls", [gatedrnn.LSTM, gatedrnn.GRU, gatedrnn.LSTMCell, gatedrnn.GRUCell],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", [2.5, "8", None], ids=str)
def test_non_integer_sizes(cls, value):
    with pytest.raises((TypeError, ValueError), match="hidden_size"):
        cls(4, value)


# --------------------------------------------------------------------------------------
# conversion: other dtypes and memory layouts give the same numbers
# --------------------------------------------------------------------------------------


def _layouts(x):
    """Equivalent views/copies of x in other dtypes and memory layouts."""
    padded = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), np.float32)
    padded[..., ::2] = x
    wide = np.zeros((x.shape[0], 3 * x.shape[1]) + x.shape[2:], np.float32)
    wide[:, ::3] = x
    return {
        "float64": x.astype(np.float64),
        "float16": x.astype(np.float16),
        "fortran": np.asfortranarray(x),
        "strided_last": padded[..., ::2],
        "strided_batch": wide[:, ::3],
        "reversed": np.ascontiguousarray(x[::-1])[::-1],
        "big_endian": x.astype(">f4"),
    }


@pytest.mark.parametrize("kind", KINDS)
def test_layer_input_conversion(kind):
    m = layer(kind, I=5, H=9, num_layers=2, bidirectional=True)
    # values exactly representable in float16, so every dtype holds the same numbers
    x = (np.random.default_rng(1).integers(-64, 64, (6, 3, 5)) / 32).astype(np.float32)
    want_y, want_s = m(x)
    for name, xc in list(_layouts(x).items()) + [("int64", np.arange(90).reshape(6, 3, 5) % 5 - 2),
                                                 ("int32", (np.arange(90).reshape(6, 3, 5) % 5 - 2).astype(np.int32))]:
        if name.startswith("int"):
            want_y, want_s = m(xc.astype(np.float32))
        y, s = m(xc)
        assert y.dtype == np.float32, name
        np.testing.assert_array_equal(y, want_y, err_msg=name)
        for a, b in zip(s if kind == "lstm" else [s], want_s if kind == "lstm" else [want_s]):
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_first_transposed_view(kind):
    """A (B, T, I) view of a (T, B, I) array: a batch_first model gives the same numbers."""
    x = f32(6, 3, 5)
    seq = layer(kind, I=5, H=9, bidirectional=True)
    bf = layer(kind, I=5, H=9, bidirectional=True, batch_first=True)
    y_seq, _ = seq(x)
    y_bf, _ = bf(x.transpose(1, 0, 2))
    np.testing.assert_array_equal(y_bf, y_seq.transpose(1, 0, 2))  # same arithmetic: bitwise equal


@pytest.mark.parametrize("kind", KINDS)
def test_state_conversion(kind):
    m = layer(kind, I=5, H=9, num_layers=2)
    x = f32(6, 3, 5)
    h0, c0 = f32(2, 3, 9), f32(2, 3, 9)
    want = m(x, (h0, c0) if kind == "lstm" else h0)[0]
    for name, conv in [("float64", lambda a: a.astype(np.float64)), ("fortran", np.asfortranarray),
                       ("strided", lambda a: np.repeat(a, 2, axis=1)[:, ::2])]:
        state = (conv(h0), conv(c0)) if kind == "lstm" else conv(h0)
        np.testing.assert_array_equal(m(x, state)[0], want, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_input_conversion(kind):
    c = cell(kind, I=5, H=9)
    x = (np.random.default_rng(2).integers(-64, 64, (3, 5)) / 32).astype(np.float32)
    want = c(x)
    want = want[0] if kind == "lstm" else want
    for name, xc in _layouts(x).items():
        got = c(xc)
        got = got[0] if kind == "lstm" else got
        np.testing.assert_array_equal(got, want, err_msg=name)


# --------------------------------------------------------------------------------------
# float32 C-contiguous input is used without a copy
# --------------------------------------------------------------------------------------


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start, result


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", ["seqfirst", "batchfirst", "unbatched"])
def test_float32_input_not_copied(kind, layout):
    """NumPy reports its buffers to tracemalloc: a call on a large float32 C-contiguous
    x (small hidden size, so x dominates) must allocate far less than x itself."""
    m = layer(kind, I=512, H=4, batch_first=layout == "batchfirst")
    shape = {"seqfirst": (200, 16, 512), "batchfirst": (16, 200, 512), "unbatched": (3200, 512)}[layout]
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    assert x.flags.c_contiguous and x.nbytes > 6_000_000

    copied, _ = _peak_bytes(lambda: np.copy(x))
    if copied < x.nbytes:
        pytest.skip("this NumPy does not report its allocations to tracemalloc")

    m(x)  # warm-up: lazily created workspaces are not what we measure
    used, out = _peak_bytes(lambda: m(x))
    assert used < x.nbytes // 2, f"call allocated {used} bytes for a {x.nbytes}-byte input: x copied?"

    x.setflags(write=False)  # read-only float32 works and is not copied either
    used_ro, out_ro = _peak_bytes(lambda: m(x))
    assert used_ro < x.nbytes // 2
    np.testing.assert_array_equal(out_ro[0], out[0])
