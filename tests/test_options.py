"""The ONNX cell options on the fused kernels, under every ISA.

LSTM and GRU layers built with ``reverse``, ``peepholes``, ``input_forget``, ``clip`` and
any ONNX activation run the compiled step kernels with CellOptions. Each case converts
the layer's PyTorch-layout parameters to ONNX's inputs here (gate orders, bias and
peephole layouts, written independently of gatedrnn.onnx) and compares the layer with
the float64 ONNX reference, ``gatedrnn.reference.onnx_lstm`` / ``onnx_gru``.
"""

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference

# PyTorch gate order -> ONNX gate order, as indices of PyTorch's gate blocks.
LSTM_TO_ONNX = [0, 3, 1, 2]  # i, f, g, o -> i, o, f, c
GRU_TO_ONNX = [1, 0, 2]  # r, z, n -> z, r, h
PEEPHOLE_TO_ONNX = [0, 2, 1]  # i, f, o -> i, o, f

# Hidden sizes at the SIMD tile boundaries (8 lanes on AVX2, 16-unit panel blocks).
HIDDEN = [1, 7, 16, 17, 33]


def gates(a, order, hidden):
    blocks = a.reshape((len(order), hidden) + a.shape[1:])
    return blocks[order].reshape(a.shape)


def onnx_inputs(layer):
    """W, R, B, P (or None) of a one-layer gatedrnn layer, in ONNX's layouts."""
    sd, H = layer.state_dict(), layer.hidden_size
    order = LSTM_TO_ONNX if layer._kind == "lstm" else GRU_TO_ONNX
    suffixes = ["_l0", "_l0_reverse"] if layer.bidirectional else ["_l0"]
    W = np.stack([gates(sd["weight_ih" + s], order, H) for s in suffixes])
    R = np.stack([gates(sd["weight_hh" + s], order, H) for s in suffixes])
    B = None
    if layer.bias:
        B = np.stack([np.concatenate([gates(sd["bias_ih" + s], order, H), gates(sd["bias_hh" + s], order, H)])
                      for s in suffixes])
    P = None
    if getattr(layer, "peepholes", False):
        P = np.stack([gates(sd["peephole" + s], PEEPHOLE_TO_ONNX, H) for s in suffixes])
    return W, R, B, P


def direction(layer):
    return "bidirectional" if layer.bidirectional else ("reverse" if layer.reverse else "forward")


def as_torch_layout(Y):
    """ONNX Y (T, D, B, H) -> the layer's y (T, B, D*H)."""
    T, D, B, H = Y.shape
    return Y.transpose(0, 2, 1, 3).reshape(T, B, D * H)


def randomize(layer, rng):
    """Weights large enough that clip and every activation branch matter, yet with a
    recurrent gain near 1, so float32 rounding is not amplified step after step (the
    unbounded activations would otherwise make the comparison ill-conditioned)."""
    scale = min(0.6, 2.0 / np.sqrt(layer.hidden_size))
    layer.load_state_dict({k: rng.uniform(-scale, scale, v.shape) for k, v in layer.state_dict().items()})
    return layer


def check_lstm(layer, rng, assert_close, T=5, B=3, lengths=None, states=True):
    x = rng.standard_normal((T, B, layer.input_size)).astype(np.float32)
    D, H = (2 if layer.bidirectional else 1), layer.hidden_size
    h0 = rng.standard_normal((D, B, H)).astype(np.float32) * 0.5 if states else None
    c0 = rng.standard_normal((D, B, H)).astype(np.float32) * 0.5 if states else None
    y, (h_n, c_n) = layer(x, None if h0 is None else (h0, c0), lengths=lengths)
    W, R, Bias, P = onnx_inputs(layer)
    Y, Y_h, Y_c = reference.onnx_lstm(
        x, W, R, Bias, lengths, h0, c0, P, hidden_size=H, direction=direction(layer),
        activations=layer.activations, activation_alpha=layer.activation_alpha,
        activation_beta=layer.activation_beta, clip=layer.clip, input_forget=int(layer.input_forget))
    K = layer.input_size + H
    if lengths is not None:  # the layer keeps the initial state of an empty row; compare the rest
        lengths = np.asarray(lengths)
        Y_h, Y_c = Y_h.copy(), Y_c.copy()
        Y_h[:, lengths == 0] = 0 if h0 is None else h0[:, lengths == 0]
        Y_c[:, lengths == 0] = 0 if c0 is None else c0[:, lengths == 0]
    assert_close(y, as_torch_layout(Y), K, "y")
    assert_close(h_n, Y_h, K, "h_n")
    assert_close(c_n, Y_c, K, "c_n")


def check_gru(layer, rng, assert_close, T=5, B=3, lengths=None, states=True):
    x = rng.standard_normal((T, B, layer.input_size)).astype(np.float32)
    D, H = (2 if layer.bidirectional else 1), layer.hidden_size
    h0 = rng.standard_normal((D, B, H)).astype(np.float32) * 0.5 if states else None
    y, h_n = layer(x, h0, lengths=lengths)
    W, R, Bias, _ = onnx_inputs(layer)
    Y, Y_h = reference.onnx_gru(
        x, W, R, Bias, lengths, h0, hidden_size=H, direction=direction(layer),
        activations=layer.activations, activation_alpha=layer.activation_alpha,
        activation_beta=layer.activation_beta, clip=layer.clip,
        linear_before_reset=int(layer.linear_before_reset))
    K = layer.input_size + H
    assert_close(y, as_torch_layout(Y), K, "y")
    assert_close(h_n, Y_h, K, "h_n")


LSTM_OPTIONS = [
    dict(peepholes=True),
    dict(input_forget=True),
    dict(clip=0.3),
    dict(reverse=True),
    dict(peepholes=True, input_forget=True, clip=0.5),
    dict(activations=["HardSigmoid", "Relu", "Softsign"], activation_alpha=[0.25], activation_beta=[0.4]),
    dict(activations=["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Tanh", "Tanh"], bidirectional=True, peepholes=True),
    dict(activations=["sigmoid", "LeakyRelu", "Elu"], activation_alpha=[0.1, 0.7], bidirectional=True),
]


@pytest.mark.parametrize("options", LSTM_OPTIONS, ids=lambda o: "-".join(f"{k}" for k in o))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_lstm_options(isa, rng, assert_close, options, hidden):
    layer = randomize(gatedrnn.LSTM(6, hidden, seed=0, **options), rng)
    check_lstm(layer, rng, assert_close)


GRU_OPTIONS = [
    dict(clip=0.3),
    dict(reverse=True),
    dict(clip=0.4, linear_before_reset=False),
    dict(activations=["HardSigmoid", "Softplus"], activation_alpha=[0.3], activation_beta=[0.6]),
    dict(activations=["ScaledTanh", "ThresholdedRelu"], activation_alpha=[0.9, 0.1], activation_beta=[1.2],
         linear_before_reset=False),
    dict(activations=["Sigmoid", "Affine", "Sigmoid", "Tanh"], activation_alpha=[0.5], activation_beta=[0.1],
         bidirectional=True),
]


@pytest.mark.parametrize("options", GRU_OPTIONS, ids=lambda o: "-".join(f"{k}" for k in o))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gru_options(isa, rng, assert_close, options, hidden):
    layer = randomize(gatedrnn.GRU(6, hidden, seed=0, **options), rng)
    check_gru(layer, rng, assert_close)


@pytest.mark.parametrize("batch", [1, 4, 7])
def test_batch_tiles_with_lengths(isa, rng, assert_close, batch):
    """Row tiles of every size (the GEMV path at B=1) with rows ending at different steps,
    the reverse direction over each row's valid prefix."""
    lengths = rng.integers(1, 7, size=batch)
    lengths[0] = 6
    lstm = randomize(gatedrnn.LSTM(5, 17, seed=0, peepholes=True, clip=0.6, bidirectional=True), rng)
    check_lstm(lstm, rng, assert_close, T=6, B=batch, lengths=lengths)
    gru = randomize(gatedrnn.GRU(5, 17, seed=0, reverse=True, clip=0.6, linear_before_reset=False), rng)
    check_gru(gru, rng, assert_close, T=6, B=batch, lengths=lengths)


def test_every_activation(isa, rng, assert_close):
    """Each ONNX activation in each LSTM slot (the lane-by-lane path), defaults for alpha/beta."""
    names = ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
             "HardSigmoid", "Elu", "Softsign", "Softplus"]
    for i, name in enumerate(names):
        acts = ["Sigmoid", "Tanh", "Tanh"]
        acts[i % 3] = name
        layer = randomize(gatedrnn.LSTM(4, 9, seed=0, activations=acts), rng)
        check_lstm(layer, rng, assert_close, T=4, B=2)


def test_two_layers_chain_the_operator(isa, rng, assert_close):
    """num_layers=2 with options: layer 1 reads layer 0's outputs (one ONNX node each)."""
    lstm = randomize(gatedrnn.LSTM(5, 8, num_layers=2, seed=0, clip=0.5, input_forget=True), rng)
    x = rng.standard_normal((4, 2, 5)).astype(np.float32)
    y, (h_n, c_n) = lstm(x)
    sd = lstm.state_dict()
    inner = x.astype(np.float64)
    for layer in range(2):
        one = gatedrnn.LSTM(inner.shape[-1], 8, seed=0, clip=0.5, input_forget=True)
        one.load_state_dict({k.replace(f"_l{layer}", "_l0"): v for k, v in sd.items() if k.endswith(f"_l{layer}")})
        W, R, B, _ = onnx_inputs(one)
        Y, Y_h, Y_c = reference.onnx_lstm(inner, W, R, B, hidden_size=8, clip=0.5, input_forget=1)
        assert_close(h_n[layer], Y_h[0], 13, f"h_n[{layer}]")
        assert_close(c_n[layer], Y_c[0], 13, f"c_n[{layer}]")
        inner = as_torch_layout(Y)
    assert_close(y, inner, 13, "y")


def test_threads_bitwise(isa, rng):
    """Options do not change the guarantee: any thread count gives identical bits."""
    x = rng.standard_normal((32, 8, 64)).astype(np.float32)
    results = []
    for threads in (1, 2):
        lstm = gatedrnn.LSTM(64, 128, seed=3, peepholes=True, clip=0.8, activations=["HardSigmoid", "Tanh", "Softsign"],
                             num_threads=threads)
        gru = gatedrnn.GRU(64, 128, seed=3, clip=0.8, reverse=True, linear_before_reset=False, num_threads=threads)
        results.append((lstm(x)[0], gru(x)[0]))
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_defaults_are_pytorch(rng):
    """Default activations named explicitly still take the plain kernels: same bits."""
    x = rng.standard_normal((5, 3, 4)).astype(np.float32)
    plain = gatedrnn.LSTM(4, 10, seed=1)
    named = gatedrnn.LSTM(4, 10, seed=1, activations=["sigmoid", "TANH", "Tanh"])
    assert named._options == {}
    assert np.array_equal(plain(x)[0], named(x)[0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(reverse=True, bidirectional=True), "reverse"),
    (dict(clip=0.0), "clip"),
    (dict(clip=float("inf")), "clip"),
    (dict(activations=["Sigmoid", "Tanh"]), "activations: expected 3"),
    (dict(activations=["Sigmoid", "Tanh", "Swish"]), "unknown activation 'Swish'"),
    (dict(activation_alpha=[0.5]), "without activations"),
    (dict(peepholes=True, proj_size=2), "peepholes"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gatedrnn.LSTM(3, 4, **kwargs)


def test_bad_option_types():
    with pytest.raises(TypeError, match="clip"):
        gatedrnn.LSTM(3, 4, clip="big")
    with pytest.raises(TypeError, match="activations"):
        gatedrnn.GRU(3, 4, activations="Sigmoid")
    with pytest.raises(TypeError, match="GRU|unexpected keyword"):
        gatedrnn.GRU(3, 4, peepholes=True)


def test_reverse_cannot_stream():
    with pytest.raises(ValueError, match="reverse"):
        gatedrnn.LSTM(3, 4, reverse=True).stream()


def test_peepholes_in_state_dict(rng):
    lstm = gatedrnn.LSTM(3, 5, bidirectional=True, peepholes=True, seed=0)
    sd = lstm.state_dict()
    assert sd["peephole_l0"].shape == (15,) and sd["peephole_l0_reverse"].shape == (15,)
    del sd["peephole_l0"]
    with pytest.raises(ValueError, match="peephole_l0"):
        lstm.load_state_dict(sd)
