"""gatedrnn.from_torch: PyTorch modules moved over in one call give PyTorch's numbers."""

import numpy as np
import pytest

import gatedrnn

torch = pytest.importorskip("torch")

CONFIGS = [
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(proj_size=5, batch_first=True)),
    ("LSTM", dict(bias=False)),
    ("GRU", dict(num_layers=3, dropout=0.5)),
    ("GRU", dict(bidirectional=True, batch_first=True, bias=False)),
]


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in c.items())}" for n, c in CONFIGS])
def test_from_torch_layers(name, kw):
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(7, 12, **kw).eval()
    g = gatedrnn.from_torch(t)
    assert type(g).__name__ == name
    x = torch.randn(5, 3, 7)
    with torch.no_grad():
        ty, ts = t(x)
    gy, gs = g(x.numpy())
    np.testing.assert_allclose(gy, ty.numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(gs if name == "LSTM" else [gs], ts if name == "LSTM" else [ts]):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-5)
    assert g.batch_first == t.batch_first and g.num_layers == t.num_layers


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell"])
def test_from_torch_cells(name):
    torch.manual_seed(1)
    t = getattr(torch.nn, name)(6, 9)
    g = gatedrnn.from_torch(t)
    x = torch.randn(4, 6)
    with torch.no_grad():
        want = t(x)
    got = g(x.numpy())
    for a, b in zip(got if name == "LSTMCell" else [got], want if name == "LSTMCell" else [want]):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-5)


def test_from_torch_converts_dtype_and_rejects_others():
    t = torch.nn.GRU(3, 4).double()
    g = gatedrnn.from_torch(t)
    x = torch.randn(2, 1, 3, dtype=torch.float64)
    with torch.no_grad():
        ty, _ = t(x)
    np.testing.assert_allclose(g(x.numpy())[0], ty.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="module"):
        gatedrnn.from_torch(torch.nn.RNN(3, 4))
    with pytest.raises(TypeError, match="module"):
        gatedrnn.from_torch(torch.nn.Linear(3, 4))
