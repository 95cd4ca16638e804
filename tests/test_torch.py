"""Cross-check against real torch.nn.LSTM / GRU / LSTMCell / GRUCell.

Weights are copied both ways: gatedrnn -> torch (torch's strict load_state_dict
also proves the names and shapes are PyTorch's) and torch -> gatedrnn (tensors
as NumPy arrays). Both sides compute in float32.
"""

import numpy as np
import pytest

import gatedrnn

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

ATOL = RTOL = 1e-5

LAYER_CONFIGS = [
    # kind, I, H, num_layers, bias, batch_first, bidirectional, proj_size
    ("lstm", 3, 8, 1, True, False, False, 0),
    ("lstm", 1, 1, 1, True, False, False, 0),
    ("lstm", 16, 17, 2, True, False, True, 0),
    ("lstm", 5, 17, 1, True, False, False, 5),
    ("lstm", 7, 33, 2, True, True, True, 16),
    ("lstm", 4, 31, 3, False, False, True, 0),
    ("lstm", 9, 65, 1, True, True, False, 0),
    ("lstm", 6, 16, 2, False, True, False, 15),
    ("gru", 3, 8, 1, True, False, False, 0),
    ("gru", 1, 1, 1, True, False, False, 0),
    ("gru", 16, 17, 2, True, False, True, 0),
    ("gru", 7, 33, 2, True, True, True, 0),
    ("gru", 4, 31, 3, False, False, True, 0),
    ("gru", 9, 65, 1, True, True, False, 0),
    ("gru", 5, 129, 1, True, False, False, 0),
]


def _cfg_id(c):
    kind, I, H, L, bias, bf, bi, P = c
    return f"{kind}-I{I}-H{H}-L{L}{'' if bias else '-nobias'}{'-bf' if bf else ''}{'-bi' if bi else ''}-P{P}"


@pytest.fixture(autouse=True)
def _torch_no_grad():
    with torch.no_grad():
        yield


def make_pair(cfg, direction, seed=0):
    kind, I, H, L, bias, bf, bi, P = cfg
    kw = dict(num_layers=L, bias=bias, batch_first=bf, bidirectional=bi)
    if kind == "lstm":
        ours = gatedrnn.LSTM(I, H, proj_size=P, seed=seed, **kw)
        theirs = torch.nn.LSTM(I, H, proj_size=P, **kw)
    else:
        ours = gatedrnn.GRU(I, H, seed=seed, **kw)
        theirs = torch.nn.GRU(I, H, **kw)
    copy_weights(ours, theirs, direction, seed)
    return ours, theirs


def copy_weights(ours, theirs, direction, seed):
    if direction == "to_torch":
        theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    else:
        torch.manual_seed(seed)
        for p in theirs.parameters():
            torch.nn.init.uniform_(p, -0.5, 0.5)  # also differs from our own init range
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        for k, v in ours.state_dict().items():
            np.testing.assert_array_equal(v, theirs.state_dict()[k].numpy())


def close(ours, theirs, what):
    theirs = theirs.detach().numpy()
    assert ours.dtype == np.float32
    assert ours.shape == theirs.shape, f"{what}: {ours.shape} vs torch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=what)


def initial_state(cfg, rng, B, unbatched=False):
    kind, I, H, L, bias, bf, bi, P = cfg
    D = 2 if bi else 1
    lead = (L * D,) if unbatched else (L * D, B)
    h0 = (0.5 * rng.standard_normal(lead + (P or H,))).astype(np.float32)
    if kind == "lstm":
        return h0, (0.5 * rng.standard_normal(lead + (H,))).astype(np.float32)
    return h0


def to_torch_state(kind, state):
    if state is None:
        return None
    if kind == "lstm":
        return tuple(torch.from_numpy(s) for s in state)
    return torch.from_numpy(state)


def compare_outputs(kind, ours_out, theirs_out):
    y, st = ours_out
    ty, tst = theirs_out
    close(y, ty, "y")
    if kind == "lstm":
        close(st[0], tst[0], "h_n")
        close(st[1], tst[1], "c_n")
    else:
        close(st, tst, "h_n")


@pytest.mark.parametrize("direction", ["to_torch", "from_torch"])
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
@pytest.mark.parametrize("cfg", LAYER_CONFIGS, ids=[_cfg_id(c) for c in LAYER_CONFIGS])
def test_layer_matches_torch(cfg, direction, with_state, rng):
    kind, I, H, L, bias, bf, bi, P = cfg
    ours, theirs = make_pair(cfg, direction)
    T, B = 9, 3
    x = rng.standard_normal((B, T, I) if bf else (T, B, I)).astype(np.float32)
    state = initial_state(cfg, rng, B) if with_state else None
    compare_outputs(kind, ours(x, state), theirs(torch.from_numpy(x), to_torch_state(kind, state)))


@pytest.mark.parametrize("cfg", [c for c in LAYER_CONFIGS if c[2] in (8, 17, 33)],
                         ids=[_cfg_id(c) for c in LAYER_CONFIGS if c[2] in (8, 17, 33)])
def test_unbatched_matches_torch(cfg, rng):
    kind, I = cfg[0], cfg[1]
    ours, theirs = make_pair(cfg, "to_torch")
    x = rng.standard_normal((6, I)).astype(np.float32)
    state = initial_state(cfg, rng, 1, unbatched=True)
    compare_outputs(kind, ours(x, state), theirs(torch.from_numpy(x), to_torch_state(kind, state)))


@pytest.mark.parametrize("direction", ["to_torch", "from_torch"])
@pytest.mark.parametrize("cfg", LAYER_CONFIGS, ids=[_cfg_id(c) for c in LAYER_CONFIGS])
def test_lengths_match_pack_padded_sequence(cfg, direction, rng):
    kind, I, H, L, bias, bf, bi, P = cfg
    ours, theirs = make_pair(cfg, direction, seed=1)
    T = 8
    lengths = np.array([3, 8, 1, 5, 8, 2])
    B = lengths.size
    x = rng.standard_normal((B, T, I) if bf else (T, B, I)).astype(np.float32)
    state = initial_state(cfg, rng, B)

    y, st = ours(x, state, lengths=lengths)
    packed = pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths), batch_first=bf,
                                  enforce_sorted=False)
    ty, tst = theirs(packed, to_torch_state(kind, state))
    ty, _ = pad_packed_sequence(ty, batch_first=bf, total_length=T)
    compare_outputs(kind, (y, st), (ty, tst))
    yt = y.transpose(1, 0, 2) if bf else y
    for b, n in enumerate(lengths):
        assert np.all(yt[n:, b] == 0)


CELL_CONFIGS = [
    # kind, I, H, bias
    ("lstm", 3, 8, True),
    ("lstm", 1, 1, True),
    ("lstm", 16, 17, False),
    ("lstm", 33, 65, True),
    ("gru", 3, 8, True),
    ("gru", 1, 1, True),
    ("gru", 16, 17, False),
    ("gru", 33, 129, True),
]


@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("direction", ["to_torch", "from_torch"])
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
@pytest.mark.parametrize("cfg", CELL_CONFIGS, ids=[f"{c[0]}-I{c[1]}-H{c[2]}{'' if c[3] else '-nobias'}" for c in CELL_CONFIGS])
def test_cell_matches_torch(cfg, direction, with_state, unbatched, rng):
    kind, I, H, bias = cfg
    if kind == "lstm":
        ours, theirs = gatedrnn.LSTMCell(I, H, bias=bias, seed=0), torch.nn.LSTMCell(I, H, bias=bias)
    else:
        ours, theirs = gatedrnn.GRUCell(I, H, bias=bias, seed=0), torch.nn.GRUCell(I, H, bias=bias)
    copy_weights(ours, theirs, direction, seed=2)
    lead = () if unbatched else (4,)
    x = rng.standard_normal(lead + (I,)).astype(np.float32)
    h = (0.5 * rng.standard_normal(lead + (H,))).astype(np.float32) if with_state else None
    c = (0.5 * rng.standard_normal(lead + (H,))).astype(np.float32) if with_state else None
    tx = torch.from_numpy(x)
    if kind == "lstm":
        state = (h, c) if with_state else None
        oh, oc = ours(x, state)
        th, tc = theirs(tx, tuple(map(torch.from_numpy, state)) if with_state else None)
        close(oh, th, "h")
        close(oc, tc, "c")
    else:
        oh = ours(x, h)
        th = theirs(tx, torch.from_numpy(h) if with_state else None)
        close(oh, th, "h")


@pytest.mark.parametrize("cfg", LAYER_CONFIGS, ids=[_cfg_id(c) for c in LAYER_CONFIGS])
def test_state_dict_names_shapes_and_order_match_torch(cfg):
    kind, I, H, L, bias, bf, bi, P = cfg
    ours, theirs = make_pair(cfg, "to_torch")
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert [(k, v.shape) for k, v in sd.items()] == [(k, tuple(v.shape)) for k, v in tsd.items()]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_cell_state_dict_matches_torch(kind, bias):
    ours = (gatedrnn.LSTMCell if kind == "lstm" else gatedrnn.GRUCell)(5, 7, bias=bias, seed=0)
    theirs = (torch.nn.LSTMCell if kind == "lstm" else torch.nn.GRUCell)(5, 7, bias=bias)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]


def test_cross_isa_matches_torch(rng):
    """Every available ISA, one representative model each of LSTM and GRU."""
    previous = gatedrnn.selected_isa()
    try:
        for name in gatedrnn.available_isas():
            gatedrnn.set_isa(name)
            for cfg in (LAYER_CONFIGS[4], LAYER_CONFIGS[11]):
                ours, theirs = make_pair(cfg, "from_torch", seed=5)
                x = rng.standard_normal((8, 10, cfg[1])).astype(np.float32)
                compare_outputs(cfg[0], ours(x), theirs(torch.from_numpy(x)))
    finally:
        gatedrnn.set_isa(previous)
