"""A model's scratch memory is reused from call to call: calls of changing shapes and
options, and a call with NaN inputs, never leak into the next call's results."""

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference


def ref_call(kind, model, x, lengths=None):
    if kind == "lstm":
        y, (h, c) = reference.lstm(x, model.state_dict(), lengths=lengths)
        return [y, h, c]
    y, h = reference.gru(x, model.state_dict(), lengths=lengths, linear_before_reset=model.linear_before_reset)
    return [y, h]


def call(kind, model, x, lengths=None):
    if kind == "lstm":
        y, (h, c) = model(x, lengths=lengths)
        return [y, h, c]
    y, h = model(x, lengths=lengths)
    return [y, h]


@pytest.mark.parametrize("kind,kw", [("lstm", {}), ("lstm", {"proj_size": 7}), ("gru", {}),
                                     ("gru", {"linear_before_reset": False})])
def test_changing_shapes_reuse_nothing_stale(isa, kind, kw):
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    model = cls(6, 19, num_layers=2, bidirectional=True, seed=4, **kw)
    rng = np.random.default_rng(0)
    shapes = [(9, 4, None), (3, 1, None), (12, 6, [12, 1, 0, 5, 12, 7]), (9, 4, None), (2, 7, None),
              (12, 6, [3, 3, 3, 3, 3, 3]), (1, 1, None)]
    for T, B, lengths in shapes:
        x = rng.standard_normal((T, B, 6)).astype(np.float32)
        for got, want in zip(call(kind, model, x, lengths), ref_call(kind, model, x, lengths)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_nan_call_does_not_poison_the_next(isa, kind):
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    model = cls(5, 17, seed=1)
    x = np.random.default_rng(1).standard_normal((6, 3, 5)).astype(np.float32)
    before = call(kind, model, x)
    bad = x.copy()
    bad[2, 1, 3] = np.nan
    poisoned = call(kind, model, bad)
    assert np.isnan(poisoned[0][2:, 1]).all()  # NaN propagates through row 1 from t = 2 on
    assert not np.isnan(poisoned[0][:, [0, 2]]).any()  # other rows are untouched
    after = call(kind, model, x)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_cell_fast_and_general_paths_agree(isa):
    cell = gatedrnn.LSTMCell(4, 9, seed=2)
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    h, c = cell(x)  # float32 C-contiguous: the fast path
    h64, c64 = cell(x.astype(np.float64))  # converted: the general path
    np.testing.assert_array_equal(h, h64)
    np.testing.assert_array_equal(c, c64)
    hr, cr = reference.lstm_cell(x, cell.state_dict())
    np.testing.assert_allclose(h, hr, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"x.*\(3, 5\)"):
        cell(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"h.*\(2, 9\)"):
        cell(x, (np.zeros((2, 9), np.float32), np.zeros((3, 9), np.float32)))


def strided(a):
    """The same values, as every other element of the last axis of a wider array."""
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


def check_forms(run, want, forms, partial):
    """run(*args) over each argument form gives bitwise `want`; each (args, same) of
    `partial` gives bitwise run(*same)."""
    for args in forms:
        for a, b in zip(run(*args), want):
            np.testing.assert_array_equal(a, b)
    for args, same in partial:
        for a, b in zip(run(*args), run(*same)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_nolbr"])
def test_cell_argument_forms_agree(isa, kind):
    """Every form of a cell's arguments gives bitwise the result of plain float32 arrays:
    strided float32 views and tuples of them (taken by the core, which copies a strided
    array), other dtypes, lists and a list for the state (converted in Python), and None
    for either state."""
    I, H, B = 5, 17, 3
    rng = np.random.default_rng(7)
    if kind == "lstm":
        cell = gatedrnn.LSTMCell(I, H, seed=5)
    else:
        cell = gatedrnn.GRUCell(I, H, seed=5, linear_before_reset=kind == "gru")
    x = rng.standard_normal((B, I)).astype(np.float32)
    h = rng.standard_normal((B, H)).astype(np.float32)
    c = rng.standard_normal((B, H)).astype(np.float32)
    zeros = np.zeros((B, H), np.float32)

    def run(*args):
        out = cell(*args)
        return list(out) if kind == "lstm" else [out]

    if kind == "lstm":
        want = run(x, (h, c))
        hr, cr = reference.lstm_cell(x, cell.state_dict(), (h, c))
        np.testing.assert_allclose(want[0], hr, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(want[1], cr, rtol=1e-5, atol=1e-5)
        forms = [(strided(x), (h, c)), (x, (strided(h), strided(c))), (x, [h, c]),
                 (x.astype(np.float64), (h, c)), (x, (h.astype(np.float64), c)), (x.tolist(), (h, c.tolist()))]
        partial = [((x, (None, c)), (x, (zeros, c))), ((x, (h, None)), (x, (h, zeros))),
                   ((x, None), (x, (zeros, zeros))), ((x, (None, None)), (x, (zeros, zeros)))]
    else:
        want = run(x, h)
        hr = reference.gru_cell(x, cell.state_dict(), h, linear_before_reset=kind == "gru")
        np.testing.assert_allclose(want[0], hr, rtol=1e-5, atol=1e-5)
        forms = [(strided(x), h), (x, strided(h)), (x.astype(np.float64), h), (x, h.astype(np.float64)),
                 (x.tolist(), h.tolist())]
        partial = [((x, None), (x, zeros))]
    check_forms(run, want, forms, partial)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_cell_bad_arguments(kind):
    cell = gatedrnn.LSTMCell(4, 6, seed=0) if kind == "lstm" else gatedrnn.GRUCell(4, 6, seed=0)
    x = np.zeros((2, 4), np.float32)
    h = np.zeros((2, 6), np.float32)
    if kind == "lstm":
        with pytest.raises(ValueError, match=r"c: expected shape \(2, 6\), got \(2, 5\)"):
            cell(x, (h, np.zeros((2, 5), np.float32)))
        with pytest.raises(TypeError, match="state: expected a tuple"):
            cell(x, h)  # an array, not (h, c)
        with pytest.raises(TypeError, match="state"):
            cell(x, (h,))
    else:
        with pytest.raises(ValueError, match=r"h: expected shape \(2, 6\), got \(3, 6\)"):
            cell(x, np.zeros((3, 6), np.float32))
    with pytest.raises(ValueError, match=r"x.*\(2, 5\)"):
        cell(np.zeros((2, 5), np.float32))
    with pytest.raises(TypeError):
        cell(np.array([["a"] * 4] * 2))


def test_core_per_step_methods_check_their_arguments():
    """The core's per-step entries (Network.cell, call, advance: METH_FASTCALL methods that
    bypass pybind11's argument casting) refuse wrong arguments with a TypeError, and a
    Network whose __init__ never ran without reading it."""
    from gatedrnn import _core

    cell = gatedrnn.LSTMCell(4, 6, seed=0)
    net = cell._net
    x, h = np.zeros((2, 4), np.float32), np.zeros((2, 6), np.float32)
    for a, b in zip(net.cell(x, (h, h), 0), cell(x, (h, h))):  # the well-formed call agrees with the cell's
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="cell: expected 3 positional arguments, got 2"):
        net.cell(x, None)
    with pytest.raises(TypeError, match="keyword"):
        net.cell(x, None, num_threads=0)
    with pytest.raises(TypeError, match="num_threads: expected an int"):
        net.cell(x, None, 1.0)
    with pytest.raises(ValueError, match="num_threads: out of range"):
        net.cell(x, None, 2**40)
    with pytest.raises(TypeError, match="batch_first: expected a bool"):
        net.call(x[None], None, 1, 0)
    with pytest.raises(TypeError, match="call: expected 4 positional arguments, got 5"):
        net.call(x[None], None, False, 0, 0)
    with pytest.raises(TypeError, match="h: expected a writable"):
        net.advance(x, h.astype(np.float64), h, False, 0)
    with pytest.raises(TypeError, match="num_threads: expected an int"):
        net.advance(x, h[None], h[None], False, "0")
    bare = _core.Network.__new__(_core.Network)
    for method, args in [("cell", (x, None, 0)), ("call", (x[None], None, False, 0)),
                         ("advance", (x, h[None], h[None], False, 0))]:
        with pytest.raises(TypeError, match="not initialised"):
            getattr(bare, method)(*args)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_argument_forms_agree(isa, kind, batch_first):
    """A layer's call gives bitwise the same result for every form of its arguments:
    float32 arrays and strided views of them (taken by the core), other dtypes, lists and
    a list for the state (converted in Python), and None for either state."""
    I, H, B, T = 5, 9, 3, 4
    rng = np.random.default_rng(11)
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    model = cls(I, H, num_layers=2, bidirectional=True, batch_first=batch_first, seed=6)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(np.float32)
    h = rng.standard_normal((4, B, H)).astype(np.float32)
    c = rng.standard_normal((4, B, H)).astype(np.float32)
    zeros = np.zeros((4, B, H), np.float32)

    def run(*args):
        y, state = model(*args)
        return [y] + (list(state) if kind == "lstm" else [state])

    if kind == "lstm":
        want = run(x, (h, c))
        yr, (hr, cr) = reference.lstm(x, model.state_dict(), (h, c), batch_first=batch_first)
        np.testing.assert_allclose(want[0], yr, rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(want[1], hr, rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(want[2], cr, rtol=1e-5, atol=2e-5)
        forms = [(strided(x), (h, c)), (x, (strided(h), strided(c))), (x, [h, c]), (x.astype(np.float64), (h, c)),
                 (x, (h.astype(np.float64), c)), (x.tolist(), (h, c.tolist()))]
        partial = [((x, (None, c)), (x, (zeros, c))), ((x, (h, None)), (x, (h, zeros))), ((x,), (x, (zeros, zeros))),
                   ((x, (None, None)), (x, (zeros, zeros)))]
    else:
        want = run(x, h)
        yr, hr = reference.gru(x, model.state_dict(), h, batch_first=batch_first)
        np.testing.assert_allclose(want[0], yr, rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(want[1], hr, rtol=1e-5, atol=2e-5)
        forms = [(strided(x), h), (x, strided(h)), (x.astype(np.float64), h), (x, h.astype(np.float64)),
                 (x.tolist(), h.tolist())]
        partial = [((x,), (x, zeros))]
    check_forms(run, want, forms, partial)
    with pytest.raises(ValueError, match=r"h0: expected shape \(4, 3, 9\), got \(2, 3, 9\)"):
        model(x, (h[:2], c) if kind == "lstm" else h[:2])
    if kind == "lstm":
        with pytest.raises(ValueError, match=r"c0: expected shape \(4, 3, 9\), got \(4, 3, 8\)"):
            model(x, (h, c[..., :8]))
        with pytest.raises(TypeError, match="state: expected a tuple"):
            model(x, h)
