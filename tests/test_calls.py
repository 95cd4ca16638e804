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
