"""gatedrnn.from_keras against real Keras 3 layers (torch backend unless KERAS_BACKEND says
otherwise): the imported layer must reproduce Keras' outputs and states."""

import os

import numpy as np
import pytest

import gatedrnn

os.environ.setdefault("KERAS_BACKEND", "torch")  # must precede the first import of keras
if os.environ["KERAS_BACKEND"] == "torch":
    pytest.importorskip("torch")
keras = pytest.importorskip("keras")
if not keras.__version__.startswith("3."):
    pytest.skip(f"from_keras targets Keras 3, found {keras.__version__}", allow_module_level=True)

I, T = 5, 6
# (hidden size, batch): SIMD tile edges and a batch of one.
SIZES = [(1, 1), (7, 3), (16, 3), (17, 1)]
# "gru_rb" is reset_after=False (reset before the recurrent matmul).
KINDS = ["lstm", "gru", "gru_rb"]


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=2e-5)


def randomize(layer, rng, scale=1.0):
    """Seeded weights of realistic scale (kernels ~ N(0, 1/fan_in)), nonzero biases; all
    multiplied by ``scale``."""
    values = []
    for v in layer.weights:
        shape = tuple(v.shape)
        if v.path.endswith("bias"):
            values.append(rng.normal(0.0, 0.5, shape))
        else:
            values.append(rng.normal(0.0, 1.0 / np.sqrt(shape[0]), shape))
    layer.set_weights([(scale * a).astype(np.float32) for a in values])
    return layer


def rnn(kind, units, **kw):
    """An unbuilt Keras LSTM / GRU returning sequences and states."""
    kw.setdefault("return_sequences", True)
    kw.setdefault("return_state", True)
    if kind == "lstm":
        return keras.layers.LSTM(units, **kw)
    return keras.layers.GRU(units, reset_after=(kind == "gru"), **kw)


def built(layer, rng, scale=1.0):
    layer.build((None, T, I))
    return randomize(layer, rng, scale)


def to_numpy(t):
    # torch tensors directly: keras.ops.convert_to_numpy goes through Tensor.__array__,
    # which NumPy 2 reports as deprecated.
    return t.detach().cpu().numpy() if hasattr(t, "detach") else keras.ops.convert_to_numpy(t)


def run_keras(layer, x, **kw):
    return [to_numpy(o) for o in layer(x, **kw)]


def run_gatedrnn(g, x, state=None):
    """y and the states as a flat list in Keras' order (h, c per direction)."""
    if isinstance(g, gatedrnn.LSTM):
        y, (h, c) = g(x, state)
        return y, [s for d in range(h.shape[0]) for s in (h[d], c[d])]
    y, h = g(x, state)
    return y, list(h)


def check(layer, x, *, initial_state=None, state=None):
    g = gatedrnn.from_keras(layer)
    assert g.batch_first
    out = run_keras(layer, x, **({} if initial_state is None else {"initial_state": initial_state}))
    y, states = run_gatedrnn(g, x, state)
    backwards = getattr(layer, "go_backwards", False)
    close(y[:, ::-1] if backwards else y, out[0])
    assert len(states) == len(out) - 1
    for a, b in zip(states, out[1:]):
        close(a, b)
    return g, y, states


@pytest.mark.parametrize("units,batch", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_layer(kind, units, batch, rng):
    layer = built(rnn(kind, units), rng)
    g, _, _ = check(layer, rng.normal(size=(batch, T, I)).astype(np.float32))
    assert type(g) is (gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU)
    if kind != "lstm":
        assert g.linear_before_reset == (kind == "gru")


@pytest.mark.parametrize("units,batch", SIZES[1:3])
@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards(kind, units, batch, rng):
    # Keras returns the outputs of go_backwards in processing order: y[:, ::-1] here.
    layer = built(rnn(kind, units, go_backwards=True), rng)
    _, y, states = check(layer, rng.normal(size=(batch, T, I)).astype(np.float32))
    close(y[:, 0], states[0])  # the backward pass ends at step 0


@pytest.mark.parametrize("units,batch", [(1, 3), (7, 1), (17, 3)])
@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_concat(kind, units, batch, rng):
    layer = built(keras.layers.Bidirectional(rnn(kind, units)), rng)
    g, _, _ = check(layer, rng.normal(size=(batch, T, I)).astype(np.float32))
    assert g.bidirectional


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_last_output(kind, rng):
    """return_sequences=False: Keras concatenates forward's last output and the backward
    layer's output after step 0, i.e. the two final hidden states."""
    layer = built(keras.layers.Bidirectional(rnn(kind, 7, return_sequences=False, return_state=False)), rng)
    x = rng.normal(size=(3, T, I)).astype(np.float32)
    expected = to_numpy(layer(x))
    _, states = run_gatedrnn(gatedrnn.from_keras(layer), x)
    h = states[::2] if kind == "lstm" else states
    close(np.concatenate(h, axis=-1), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_no_bias(kind, rng):
    layer = built(rnn(kind, 7, use_bias=False), rng)
    g, _, _ = check(layer, rng.normal(size=(3, T, I)).astype(np.float32))
    assert not g.bias


@pytest.mark.parametrize("kind", KINDS)
def test_hard_sigmoid_and_relu(kind, rng):
    layer = built(rnn(kind, 16, recurrent_activation="hard_sigmoid", activation="relu"), rng)
    check(layer, rng.normal(size=(3, T, I)).astype(np.float32))


ACTIVATIONS = ["sigmoid", "tanh", "relu", "linear", None, "hard_sigmoid", "sparse_sigmoid", "softsign",
               "softplus", "elu", "leaky_relu"]
UNBOUNDED = {"relu", "linear", None, "softplus", "elu", "leaky_relu"}


@pytest.mark.parametrize("name", ACTIVATIONS, ids=str)
@pytest.mark.parametrize("role", ["activation", "recurrent_activation"])
def test_activation(role, name, rng):
    kind = "lstm" if role == "activation" else "gru_rb"
    if role == "recurrent_activation" and name in UNBOUNDED:
        # Unbounded gates make the state grow geometrically (1 - z < 0 in a GRU), and with
        # it the float32 rounding: halved weights keep the recurrence contractive.
        layer = built(rnn(kind, 7, **{role: name}), rng, scale=0.5)
        x = rng.normal(size=(3, T, I))
    else:
        layer = built(rnn(kind, 7, **{role: name}), rng)
        x = 3 * rng.normal(size=(3, T, I))  # gates reach the activations' kinks and tails
    check(layer, x.astype(np.float32))


def test_activation_as_function(rng):
    layer = built(rnn("gru", 7, activation=keras.ops.softsign, recurrent_activation=keras.activations.hard_sigmoid),
                  rng)
    check(layer, rng.normal(size=(2, T, I)).astype(np.float32))


def test_default_activations_take_the_fast_path(rng):
    for kind in KINDS:
        g = gatedrnn.from_keras(built(rnn(kind, 4), rng))
        assert g.activations is None


def test_bidirectional_backward_layer_with_own_activations(rng):
    fwd = rnn("lstm", 7)
    bwd = rnn("lstm", 7, go_backwards=True, activation="relu", recurrent_activation="hard_sigmoid")
    layer = built(keras.layers.Bidirectional(fwd, backward_layer=bwd), rng)
    check(layer, rng.normal(size=(3, T, I)).astype(np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_initial_state(kind, rng):
    n = 2 if kind == "lstm" else 1
    layer = built(rnn(kind, 7), rng)
    init = [rng.normal(size=(3, 7)).astype(np.float32) for _ in range(n)]
    state = (init[0][None], init[1][None]) if kind == "lstm" else init[0][None]
    check(layer, rng.normal(size=(3, T, I)).astype(np.float32), initial_state=init, state=state)


def test_bidirectional_initial_state(rng):
    layer = built(keras.layers.Bidirectional(rnn("lstm", 7)), rng)
    h_f, c_f, h_b, c_b = (rng.normal(size=(3, 7)).astype(np.float32) for _ in range(4))
    check(layer, rng.normal(size=(3, T, I)).astype(np.float32), initial_state=[h_f, c_f, h_b, c_b],
          state=(np.stack([h_f, h_b]), np.stack([c_f, c_b])))


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_right_padded_mask_is_lengths(kind, go_backwards, rng):
    """A right-padded Keras mask is gatedrnn's lengths: same final states, same outputs at
    the valid steps."""
    layer = built(rnn(kind, 7, go_backwards=go_backwards), rng)
    x = rng.normal(size=(3, T, I)).astype(np.float32)
    lengths = np.array([T, 2, 4])
    mask = np.arange(T)[None, :] < lengths[:, None]
    out = run_keras(layer, x, mask=mask)
    g = gatedrnn.from_keras(layer)
    if kind == "lstm":
        y, (h, c) = g(x, lengths=lengths)
        states = [h[0], c[0]]
    else:
        y, h = g(x, lengths=lengths)
        states = [h[0]]
    ky = out[0][:, ::-1] if go_backwards else out[0]
    close(np.where(mask[..., None], y, 0), np.where(mask[..., None], ky, 0))
    assert len(states) == len(out) - 1
    for a, b in zip(states, out[1:]):
        close(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_rnn_of_cell(kind, rng):
    cell = keras.layers.LSTMCell(7) if kind == "lstm" else keras.layers.GRUCell(7, reset_after=False)
    layer = built(keras.layers.RNN(cell, return_sequences=True, return_state=True), rng)
    check(layer, rng.normal(size=(3, T, I)).astype(np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_cell(kind, rng):
    if kind == "lstm":
        cell = keras.layers.LSTMCell(7)
    else:
        cell = keras.layers.GRUCell(7, reset_after=(kind == "gru"))
    cell.build((None, I))
    randomize(cell, rng)
    x = rng.normal(size=(3, I)).astype(np.float32)
    states = [rng.normal(size=(3, 7)).astype(np.float32) for _ in range(2 if kind == "lstm" else 1)]
    _, new = cell(x, states)
    new = [to_numpy(s) for s in new]
    g = gatedrnn.from_keras(cell)
    if kind == "lstm":
        assert type(g) is gatedrnn.LSTMCell
        h, c = g(x, tuple(states))
        close(h, new[0])
        close(c, new[1])
    else:
        assert type(g) is gatedrnn.GRUCell
        close(g(x, states[0]), new[0])


def test_num_threads(rng):
    g = gatedrnn.from_keras(built(rnn("gru", 4), rng), num_threads=1)
    assert g.num_threads == 1


# ---- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("obj", [object(), "LSTM", np.zeros(3), gatedrnn.LSTM(3, 4, seed=0)], ids=repr)
def test_not_keras_is_type_error(obj):
    with pytest.raises(TypeError, match="layer: expected a Keras 3 layer"):
        gatedrnn.from_keras(obj)


def test_unsupported_keras_layers_are_type_errors(rng):
    simple = keras.layers.SimpleRNN(4)
    simple.build((None, T, I))
    with pytest.raises(TypeError, match="SimpleRNN"):
        gatedrnn.from_keras(simple)
    stacked = keras.layers.RNN([keras.layers.LSTMCell(4), keras.layers.LSTMCell(4)])
    stacked.build((None, T, I))
    with pytest.raises(TypeError, match="StackedRNNCells"):
        gatedrnn.from_keras(stacked)

    class MyLSTM(keras.layers.LSTM):
        pass

    sub = MyLSTM(4)
    sub.build((None, T, I))
    with pytest.raises(TypeError, match="MyLSTM"):
        gatedrnn.from_keras(sub)
    with pytest.raises(TypeError, match="Dense"):
        gatedrnn.from_keras(keras.layers.Dense(3))


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave", None])
def test_other_merge_modes_are_value_errors(merge_mode, rng):
    layer = built(keras.layers.Bidirectional(rnn("lstm", 4), merge_mode=merge_mode), rng)
    with pytest.raises(ValueError, match=f"merge_mode={merge_mode!r}"):
        gatedrnn.from_keras(layer)


def test_merge_mode_hint_works(rng):
    """The error message's advice: import the directions separately; their outputs are
    aligned with the input, which is how Keras merges them."""
    layer = built(keras.layers.Bidirectional(rnn("gru", 4, return_state=False), merge_mode="sum"), rng)
    x = rng.normal(size=(2, T, I)).astype(np.float32)
    y_f, _ = gatedrnn.from_keras(layer.forward_layer)(x)
    y_b, _ = gatedrnn.from_keras(layer.backward_layer)(x)
    close(y_f + y_b, to_numpy(layer(x)))


@pytest.mark.parametrize("name", ["gelu", "silu", "relu6", "selu", "exponential", "hard_tanh"])
def test_unknown_activation_is_value_error(name, rng):
    layer = built(rnn("lstm", 4, activation=name), rng)
    with pytest.raises(ValueError, match=f"layer.activation: Keras activation '{name}'"):
        gatedrnn.from_keras(layer)
    layer = built(rnn("gru", 4, recurrent_activation=lambda v: keras.ops.sigmoid(2 * v)), rng)
    with pytest.raises(ValueError, match="layer.recurrent_activation: Keras activation '<lambda>'"):
        gatedrnn.from_keras(layer)


def test_unbuilt_is_value_error():
    for layer in (rnn("lstm", 4), keras.layers.Bidirectional(rnn("gru", 4)), keras.layers.GRUCell(3)):
        with pytest.raises(ValueError, match="not built"):
            gatedrnn.from_keras(layer)


def test_bidirectional_mismatch_is_value_error(rng):
    bwd = rnn("lstm", 5, go_backwards=True)
    layer = built(keras.layers.Bidirectional(rnn("lstm", 4), backward_layer=bwd), rng)
    with pytest.raises(ValueError, match="units"):
        gatedrnn.from_keras(layer)
    bwd = rnn("gru", 4, go_backwards=True)
    layer = built(keras.layers.Bidirectional(rnn("lstm", 4), backward_layer=bwd), rng)
    with pytest.raises(ValueError, match="layer type"):
        gatedrnn.from_keras(layer)
    fwd, bwd = rnn("gru", 4, go_backwards=True), rnn("gru", 4)
    layer = built(keras.layers.Bidirectional(fwd, backward_layer=bwd), rng)
    with pytest.raises(ValueError, match="go_backwards"):
        gatedrnn.from_keras(layer)


def test_cell_with_other_activations_is_value_error(rng):
    cell = keras.layers.LSTMCell(4, activation="relu")
    cell.build((None, I))
    with pytest.raises(ValueError, match="cells use sigmoid / tanh only"):
        gatedrnn.from_keras(cell)
