"""state_dict() / load_state_dict(): PyTorch's names and shapes, round trips,
seeded initialisation, copies, and the containers load_state_dict accepts."""

import itertools

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference


def expected_shapes(kind, I, H, num_layers=1, bias=True, bidirectional=False, proj_size=0):
    """PyTorch's parameter names, shapes and order, written out from its rules."""
    G = 4 if kind == "lstm" else 3
    H_out = proj_size or H
    D = 2 if bidirectional else 1
    out = {}
    for layer in range(num_layers):
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            out["weight_ih" + sfx] = (G * H, I if layer == 0 else D * H_out)
            out["weight_hh" + sfx] = (G * H, H_out)
            if bias:
                out["bias_ih" + sfx] = (G * H,)
                out["bias_hh" + sfx] = (G * H,)
            if proj_size:
                out["weight_hr" + sfx] = (proj_size, H)
    return out


def expected_cell_shapes(kind, I, H, bias=True):
    G = 4 if kind == "lstm" else 3
    out = {"weight_ih": (G * H, I), "weight_hh": (G * H, H)}
    if bias:
        out.update(bias_ih=(G * H,), bias_hh=(G * H,))
    return out


def check_state_dict(sd, shapes):
    assert isinstance(sd, dict)
    assert sorted(sd) == sorted(shapes)
    for k, v in sd.items():
        assert isinstance(v, np.ndarray), k
        assert v.dtype == np.float32, k
        assert v.shape == shapes[k], (k, v.shape, shapes[k])


LSTM_CONFIGS = list(itertools.product([1, 2, 3], [True, False], [False, True], [0, 5]))
GRU_CONFIGS = list(itertools.product([1, 2, 3], [True, False], [False, True], [True, False]))


@pytest.mark.parametrize("L,bias,bidir,P", LSTM_CONFIGS,
                         ids=[f"L{c[0]}-{'bias' if c[1] else 'nobias'}-{'bi' if c[2] else 'uni'}-P{c[3]}" for c in LSTM_CONFIGS])
def test_lstm_names_and_shapes(L, bias, bidir, P):
    m = gatedrnn.LSTM(3, 17, num_layers=L, bias=bias, bidirectional=bidir, proj_size=P, seed=0)
    check_state_dict(m.state_dict(), expected_shapes("lstm", 3, 17, L, bias, bidir, P))


@pytest.mark.parametrize("L,bias,bidir,lbr", GRU_CONFIGS,
                         ids=[f"L{c[0]}-{'bias' if c[1] else 'nobias'}-{'bi' if c[2] else 'uni'}-{'lbr' if c[3] else 'nolbr'}" for c in GRU_CONFIGS])
def test_gru_names_and_shapes(L, bias, bidir, lbr):
    m = gatedrnn.GRU(5, 8, num_layers=L, bias=bias, bidirectional=bidir, linear_before_reset=lbr, seed=0)
    check_state_dict(m.state_dict(), expected_shapes("gru", 5, 8, L, bias, bidir))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("I,H", [(1, 1), (3, 17), (64, 33)])
def test_cell_names_and_shapes(kind, bias, I, H):
    cls = gatedrnn.LSTMCell if kind == "lstm" else gatedrnn.GRUCell
    check_state_dict(cls(I, H, bias=bias, seed=0).state_dict(), expected_cell_shapes(kind, I, H, bias))


# --------------------------------------------------------------------------------------
# models used by the behavioural tests below
# --------------------------------------------------------------------------------------

MODELS = {
    "lstm": lambda seed=None: gatedrnn.LSTM(5, 17, num_layers=2, bidirectional=True, proj_size=6, seed=seed),
    "lstm_nobias": lambda seed=None: gatedrnn.LSTM(5, 8, bias=False, seed=seed),
    "gru": lambda seed=None: gatedrnn.GRU(5, 17, num_layers=2, bidirectional=True, seed=seed),
    "gru_nolbr": lambda seed=None: gatedrnn.GRU(5, 16, num_layers=3, linear_before_reset=False, seed=seed),
    "lstm_cell": lambda seed=None: gatedrnn.LSTMCell(5, 17, seed=seed),
    "gru_cell": lambda seed=None: gatedrnn.GRUCell(5, 33, seed=seed),
    "gru_cell_nolbr": lambda seed=None: gatedrnn.GRUCell(5, 7, linear_before_reset=False, seed=seed),
}


def outputs(name, m):
    """Run the model on fixed data, return a flat list of arrays."""
    rng = np.random.default_rng(77)
    if name.endswith(("cell", "cell_nolbr")):
        out = m(rng.standard_normal((3, 5)).astype(np.float32))
    else:
        out = m(rng.standard_normal((6, 3, 5)).astype(np.float32), lengths=[6, 0, 4])

    def flat(o):
        return [o] if isinstance(o, np.ndarray) else [a for p in o for a in flat(p)]

    return flat(out)


def assert_same(a_list, b_list):
    assert len(a_list) == len(b_list)
    for a, b in zip(a_list, b_list):
        np.testing.assert_array_equal(a, b)


def assert_sd_equal(sd1, sd2):
    assert sorted(sd1) == sorted(sd2)
    for k in sd1:
        np.testing.assert_array_equal(sd1[k], sd2[k], err_msg=k)


@pytest.mark.parametrize("name", MODELS)
def test_round_trip(isa, name):
    src, dst = MODELS[name](1), MODELS[name](2)
    assert not np.array_equal(outputs(name, src)[0], outputs(name, dst)[0])
    dst.load_state_dict(src.state_dict())
    assert_sd_equal(dst.state_dict(), src.state_dict())
    assert_same(outputs(name, dst), outputs(name, src))


@pytest.mark.parametrize("name", MODELS)
def test_loaded_weights_are_used(isa, name, assert_close):
    """Weights from elsewhere (wider range than the init) give the reference's numbers."""
    m = MODELS[name](0)
    rng = np.random.default_rng(5)
    sd = {k: rng.uniform(-0.7, 0.7, v.shape).astype(np.float32) for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    rng = np.random.default_rng(6)
    lbr = not name.endswith("nolbr")
    if name.endswith(("cell", "cell_nolbr")):
        x = rng.standard_normal((4, 5)).astype(np.float32)
        if name.startswith("lstm"):
            got, want = list(m(x)), list(reference.lstm_cell(x, sd))
        else:
            got, want = [m(x)], [reference.gru_cell(x, sd, linear_before_reset=lbr)]
    else:
        x = rng.standard_normal((7, 4, 5)).astype(np.float32)
        lengths = [7, 2, 0, 5]
        if name.startswith("lstm"):
            y, (h, c) = m(x, lengths=lengths)
            ry, (rh, rc) = reference.lstm(x, sd, lengths=lengths)
            got, want = [y, h, c], [ry, rh, rc]
        else:
            y, h = m(x, lengths=lengths)
            ry, rh = reference.gru(x, sd, lengths=lengths, linear_before_reset=lbr)
            got, want = [y, h], [ry, rh]
    for a, b in zip(got, want):
        assert_close(a, b, 5 + 2 * 33, name)


@pytest.mark.parametrize("name", MODELS)
def test_seeded_init_reproducible(name):
    assert_sd_equal(MODELS[name](42).state_dict(), MODELS[name](42).state_dict())
    assert_same(outputs(name, MODELS[name](42)), outputs(name, MODELS[name](42)))


@pytest.mark.parametrize("name", MODELS)
def test_different_seeds_differ(name):
    a, b = MODELS[name](1).state_dict(), MODELS[name](2).state_dict()
    for k in a:
        assert not np.array_equal(a[k], b[k]), k
    c, d = MODELS[name]().state_dict(), MODELS[name]().state_dict()  # seed=None: fresh entropy
    assert any(not np.array_equal(c[k], d[k]) for k in c)


@pytest.mark.parametrize("kind", ["lstm", "gru", "lstm_cell", "gru_cell"])
@pytest.mark.parametrize("H", [1, 7, 64, 129])
def test_init_distribution(kind, H):
    """U(-1/sqrt(H), 1/sqrt(H)) for every parameter (PyTorch's rule, incl. weight_hr)."""
    if kind == "lstm":
        m = gatedrnn.LSTM(9, H, num_layers=2, bidirectional=True, proj_size=H // 2, seed=3)
    elif kind == "gru":
        m = gatedrnn.GRU(9, H, num_layers=2, bidirectional=True, seed=3)
    elif kind == "lstm_cell":
        m = gatedrnn.LSTMCell(9, H, seed=3)
    else:
        m = gatedrnn.GRUCell(9, H, seed=3)
    bound = 1.0 / np.sqrt(H)
    sd = m.state_dict()
    for k, v in sd.items():
        assert np.all(np.abs(v.astype(np.float64)) <= np.float32(bound) * (1 + 1e-6)), k
        if v.size >= 2000:
            u = v.astype(np.float64) / bound  # ~ U(-1, 1)
            assert u.max() > 0.95 and u.min() < -0.95, k
            assert abs(u.mean()) < 0.05, k
            assert abs(u.std() - 1 / np.sqrt(3)) < 0.03, k
    all_values = np.concatenate([v.ravel() for v in sd.values()])
    assert np.unique(all_values).size > 0.9 * all_values.size, "parameters repeat each other"


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_returns_copies(name):
    m = MODELS[name](4)
    before = outputs(name, m)
    sd = m.state_dict()
    saved = {k: v.copy() for k, v in sd.items()}
    for v in sd.values():
        v[...] = 123.0
    assert_sd_equal(m.state_dict(), saved)
    assert_same(outputs(name, m), before)


@pytest.mark.parametrize("name", MODELS)
def test_load_state_dict_copies_its_input(name):
    m, src = MODELS[name](4), MODELS[name](5)
    sd = src.state_dict()
    m.load_state_dict(sd)
    want = outputs(name, m)
    for v in sd.values():
        v[...] = -7.0
    assert_same(outputs(name, m), want)
    assert_sd_equal(m.state_dict(), src.state_dict())


CONTAINERS = {
    "float64": lambda v: v.astype(np.float64),
    "list": lambda v: v.tolist(),
    "fortran": np.asfortranarray,
    "strided": lambda v: np.repeat(v, 2, axis=-1)[..., ::2],
    "negative_strides": lambda v: np.ascontiguousarray(v[::-1])[::-1],
    "big_endian": lambda v: v.astype(">f4"),
    "read_only": lambda v: np.frombuffer(v.tobytes(), np.float32).reshape(v.shape),
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("container", CONTAINERS)
def test_load_state_dict_accepts_array_likes(name, container):
    src = MODELS[name](8)
    sd = src.state_dict()
    want = outputs(name, src)
    m = MODELS[name](9)
    m.load_state_dict({k: CONTAINERS[container](v) for k, v in sd.items()})
    assert_sd_equal(m.state_dict(), sd)
    for v in m.state_dict().values():
        assert v.dtype == np.float32
    assert_same(outputs(name, m), want)
