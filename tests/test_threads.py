"""Threads: results are bitwise identical for any thread count, and calls from many Python
threads at once (the GIL is released during compute) each get the serial result."""

import threading

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference

from conftest import tolerance

CONFIGS = [
    ("lstm", {}),
    ("lstm", {"proj_size": 20}),
    ("lstm", {"num_layers": 2, "bidirectional": True}),
    ("gru", {}),
    ("gru", {"linear_before_reset": False}),
    ("gru", {"num_layers": 2, "bidirectional": True}),
]


def make(kind, num_threads=None, **kw):
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    return cls(24, 97, seed=11, num_threads=num_threads, **kw)


def run(model, x, lengths=None):
    y, state = model(x, lengths=lengths)
    return [y] + (list(state) if isinstance(state, tuple) else [state])


@pytest.mark.parametrize("kind,kw", CONFIGS, ids=[f"{k}-{'-'.join(map(str, v.items())) or 'plain'}" for k, v in CONFIGS])
@pytest.mark.parametrize("batch", [1, 5])
def test_bitwise_identical_across_thread_counts(isa, kind, kw, batch):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((30, batch, 24)).astype(np.float32)
    lengths = [30, 7, 0, 19, 30][:batch] if batch > 1 else None
    outs = [run(make(kind, n, **kw), x, lengths) for n in (1, 2, 3, 4)]
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            assert np.array_equal(a, b)
    ref = (reference.lstm if kind == "lstm" else reference.gru)(x, make(kind, **kw).state_dict(), lengths=lengths, **(
        {"linear_before_reset": kw["linear_before_reset"]} if "linear_before_reset" in kw else {}))
    np.testing.assert_allclose(outs[0][0], ref[0], rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("kind,kw", CONFIGS, ids=[f"{k}-{'-'.join(map(str, v.items())) or 'plain'}" for k, v in CONFIGS])
@pytest.mark.parametrize("steps,batch", [(1, 1), (3, 2)])
def test_small_calls_back_to_back_match_one_thread(isa, kind, kw, steps, batch):
    """A streaming-sized call (well under 4 MFLOP) takes a second thread only when calls
    come back to back, and then any thread claims any unstarted chunk at once: still the
    one-thread bits, call after call."""
    rng = np.random.default_rng(steps)
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    one, two = (cls(160, 160, seed=5, num_threads=n, **kw) for n in (1, 2))
    xs = [rng.standard_normal((steps, batch, 160)).astype(np.float32) for _ in range(4)]
    want = [run(one, x) for x in xs]
    for i in range(60):
        got = run(two, xs[i % 4])
        for a, b in zip(want[i % 4], got):
            assert np.array_equal(a, b), f"call {i}"


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_large_layers_take_the_lookahead_path(isa, kind):
    """A thread's slice of a panel several times its L2 (here 13-17 MiB, 65 blocks of 16
    units, K past one 1024-row pass) makes the batched fp32 steps and the GEMM prefetch each
    next pass as they go (the SIMD ISAs; scalar has no such path): still the reference's
    result, and the same bits at 1 and 2 threads."""
    rng = np.random.default_rng(7)
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    x = rng.standard_normal((2, 7, 1040)).astype(np.float32)
    outs = [run(cls(1040, 1040, seed=3, num_threads=n), x) for n in (1, 2)]
    for a, b in zip(*outs):
        assert np.array_equal(a, b)
    ref = (reference.lstm if kind == "lstm" else reference.gru)(x, cls(1040, 1040, seed=3).state_dict())
    np.testing.assert_allclose(outs[0][0], ref[0], rtol=1e-5, atol=tolerance(2080))


def test_set_num_threads_is_the_default():
    before = gatedrnn.get_num_threads()
    try:
        gatedrnn.set_num_threads(3)
        assert gatedrnn.get_num_threads() == 3
        with pytest.raises(ValueError, match="n"):
            gatedrnn.set_num_threads(0)
    finally:
        gatedrnn.set_num_threads(before)


def test_num_threads_argument_validated():
    with pytest.raises(ValueError, match="num_threads"):
        gatedrnn.LSTM(4, 8, num_threads=0)
    with pytest.raises(TypeError, match="num_threads"):
        gatedrnn.GRU(4, 8, num_threads=1.5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_concurrent_callers_get_serial_results(kind):
    model = make(kind, num_threads=2, num_layers=2)
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((25, 3, 24)).astype(np.float32) for _ in range(6)]
    expected = [run(model, x) for x in inputs]
    results = [None] * len(inputs)
    errors = []

    def worker(i):
        try:
            for _ in range(5):
                results[i] = run(model, inputs[i])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    for got, want in zip(results, expected):
        for a, b in zip(got, want):
            assert np.array_equal(a, b)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_pool_works_after_fork():
    """A forked child gets a fresh thread pool: multi-threaded calls neither deadlock nor
    differ from the parent's results."""
    import os
    import pickle
    import warnings

    model = make("lstm", num_threads=2, num_layers=2)
    x = np.random.default_rng(9).standard_normal((40, 3, 24)).astype(np.float32)
    expected = run(model, x)  # the parent's pool has started its workers
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a multi-threaded process
        pid = os.fork()
    if pid == 0:  # the child: run twice with threads, report, leave without cleanup
        try:
            out = [run(model, x), run(model, x)]
            os.write(write, pickle.dumps(out))
        finally:
            os._exit(0)
    import select
    import signal
    import time

    os.close(write)
    chunks = []
    deadline = time.monotonic() + 60
    while True:
        ready, _, _ = select.select([read], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:  # a deadlocked child: fail instead of hanging the suite
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not finish within 60 s")
        data = os.read(read, 1 << 20)
        if not data:
            break
        chunks.append(data)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    child = pickle.loads(b"".join(chunks))
    for got in child:
        for a, b in zip(got, expected):
            assert np.array_equal(a, b)
