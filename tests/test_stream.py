"""Streaming: model.stream() keeps the state inside; chunked streaming gives bitwise the
outputs of one call over the whole sequence."""

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference

LAYERS = [
    ("lstm", {}),
    ("lstm", {"num_layers": 3, "proj_size": 5}),
    ("gru", {"num_layers": 2}),
    ("gru", {"linear_before_reset": False}),
    ("lstm", {"batch_first": True, "num_layers": 2}),
    ("gru", {"batch_first": True}),
]


def make(kind, **kw):
    return (gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU)(6, 17, seed=3, **kw)


def whole(kind, model, x):
    y, state = model(x)
    return y, state


def state_list(kind, state):
    return list(state) if kind == "lstm" else [state]


@pytest.mark.parametrize("kind,kw", LAYERS, ids=[f"{k}-{'-'.join(f'{a}={b}' for a, b in v.items()) or 'plain'}" for k, v in LAYERS])
@pytest.mark.parametrize("split", [[1] * 9, [4, 5], [9], [2, 1, 3, 3]], ids=["steps", "4+5", "one", "2+1+3+3"])
def test_chunks_equal_one_call(isa, kind, kw, split):
    model = make(kind, **kw)
    bf = kw.get("batch_first", False)
    x = np.random.default_rng(0).standard_normal((9, 3, 6)).astype(np.float32)
    xin = np.ascontiguousarray(x.transpose(1, 0, 2)) if bf else x
    y, state = whole(kind, model, xin)
    s = model.stream(batch_size=3)
    outs, t = [], 0
    for n in split:
        chunk = x[t:t + n]
        if n == 1 and len(split) == 9:
            outs.append(s.step(chunk[0])[None])  # one step: (B, I) -> (B, H_out)
        else:
            out = s(np.ascontiguousarray(chunk.transpose(1, 0, 2)) if bf else chunk)
            outs.append(out.transpose(1, 0, 2) if bf else out)
        t += n
    got = np.concatenate(outs)
    np.testing.assert_array_equal(got, y.transpose(1, 0, 2) if bf else y)
    for a, b in zip(state_list(kind, s.state), state_list(kind, state)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_cell_stream_matches_cell_steps_and_reference(isa, kind):
    cell = (gatedrnn.LSTMCell if kind == "lstm" else gatedrnn.GRUCell)(5, 33, seed=1)
    x = np.random.default_rng(1).standard_normal((7, 2, 5)).astype(np.float32)
    s = cell.stream(batch_size=2)
    state = None
    for t in range(7):
        y = s.step(x[t])
        state = cell(x[t], state)
        h = state[0] if kind == "lstm" else state
        np.testing.assert_array_equal(y, h)
    got = s.state
    for a, b in zip(state_list(kind, got), state_list(kind, state)):
        np.testing.assert_array_equal(a, b)
    # and against the float64 reference of the whole sequence
    ref_y, _ = (reference.lstm if kind == "lstm" else reference.gru)(x, {k + "_l0": v for k, v in cell.state_dict().items()})
    np.testing.assert_allclose(y, ref_y[-1], rtol=1e-5, atol=1e-5)


def test_state_get_set_reset_and_independence():
    model = make("lstm", num_layers=2)
    x = np.random.default_rng(2).standard_normal((4, 2, 6)).astype(np.float32)
    a, b = model.stream(2), model.stream(2)
    a(x)
    h, c = a.state
    assert h.shape == (2, 2, 17) and c.shape == (2, 2, 17)
    assert np.count_nonzero(b.state[0]) == 0  # b never saw a's input
    h[...] = 123.0  # a copy: the stream is unchanged
    assert not np.any(a.state[0] == 123.0)
    b.state = a.state  # continue b from where a is
    x2 = np.random.default_rng(3).standard_normal((3, 2, 6)).astype(np.float32)
    np.testing.assert_array_equal(a(x2), b(x2))
    a.reset()
    fresh = model.stream(2)
    np.testing.assert_array_equal(a(x2), fresh(x2))
    # setting a state is the same as passing it as the initial state
    y, _ = model(x2, (b.state[0], b.state[1]))
    s = model.stream(2)
    s.state = b.state
    np.testing.assert_array_equal(s(x2), y)


def test_stream_errors():
    model = make("gru", num_layers=2)
    s = model.stream(batch_size=2)
    with pytest.raises(ValueError, match=r"x.*\(3, 6\)"):
        s.step(np.zeros((3, 6), np.float32))  # wrong batch
    with pytest.raises(ValueError, match=r"x.*\(4, 2, 5\)"):
        s(np.zeros((4, 2, 5), np.float32))  # wrong feature size
    with pytest.raises(ValueError, match="step"):
        s(np.zeros((2, 6), np.float32))  # a step given to __call__
    with pytest.raises(ValueError, match=r"state h.*\(2, 2, 17\).*\(1, 2, 17\)"):
        s.state = np.zeros((1, 2, 17))
    with pytest.raises(TypeError, match="x"):
        s.step(np.array([["a"] * 6] * 2))
    with pytest.raises(ValueError, match="batch_size"):
        model.stream(batch_size=0)
    with pytest.raises(ValueError, match="bidirectional"):
        gatedrnn.LSTM(3, 4, bidirectional=True).stream()
    lstm_stream = make("lstm").stream(1)
    with pytest.raises(TypeError, match="state"):
        lstm_stream.state = np.zeros((1, 1, 17))
    # failed calls leave the stream usable and unchanged
    y = s.step(np.ones((2, 6)))  # float64 input is converted
    assert y.shape == (2, 17) and y.dtype == np.float32


def test_stream_follows_load_state_dict():
    model = make("gru")
    other = make("gru")
    other.load_state_dict({k: v * 0.5 for k, v in model.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((5, 1, 6)).astype(np.float32)
    s = model.stream(1)
    model.load_state_dict(other.state_dict())  # the stream now runs the new weights
    np.testing.assert_array_equal(s(x), other(x)[0])
