"""Long-lived processes: memory stays flat over many calls, and calls leak no references.

* RSS (``/proc/self/statm``) after 100,000 calls of a small model is within 2 MiB of RSS
  after a warm-up of 2,000 calls: a call that leaked even one small allocation (an output
  buffer, a workspace, a Python object) would grow it by 3 MiB or more. For LSTM, GRU, the
  cells and stream steps; the general paths (states, lengths, conversions) and error paths;
  and models constructed, reloaded and dropped.
* No reference leaks: the input and state arrays' reference counts are unchanged after
  calls (also calls that raise), outputs are freed once dropped (weakref), and the number
  of gc-tracked objects is stable.

The RSS checks are skipped under AddressSanitizer (its quarantine holds freed memory, so
RSS grows regardless) and where ``/proc/self/statm`` is missing; the reference checks run
everywhere.
"""

import gc
import os
import sys
import weakref

import numpy as np
import pytest

import gatedrnn

WARMUP = 2_000
CALLS = 100_000
RSS_SLACK = 2 * 2**20  # bytes; the smallest heap block (32 bytes) leaked per call is 3 MiB over 100,000 calls
GC_SLACK = 20  # gc-tracked objects


def _under_asan():
    try:
        with open("/proc/self/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return "libasan" in os.environ.get("LD_PRELOAD", "")


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


needs_rss = pytest.mark.skipif(
    not os.path.exists("/proc/self/statm") or _under_asan(),
    reason="needs /proc/self/statm, and RSS means nothing under ASan (freed memory is quarantined)",
)

I, H = 8, 16


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _fast_calls():
    """(name, zero-argument callable): the cheapest call of each kind, on (1, 1, 8) input."""
    x3, x2 = _x((1, 1, I)), _x((1, I))
    lstm, gru = gatedrnn.LSTM(I, H, seed=0, num_threads=1), gatedrnn.GRU(I, H, seed=0, num_threads=1)
    lcell, gcell = gatedrnn.LSTMCell(I, H, seed=0), gatedrnn.GRUCell(I, H, seed=0)
    calls = [
        ("lstm", lambda: lstm(x3)),
        ("gru", lambda: gru(x3)),
        ("lstm_cell", lambda: lcell(x2)),
        ("gru_cell", lambda: gcell(x2)),
    ]
    if hasattr(lstm, "stream"):
        ls, gs = lstm.stream(batch_size=1), gru.stream(batch_size=1)
        calls += [("lstm_stream", lambda: ls.step(x2)), ("gru_stream", lambda: gs.step(x2))]
    return calls


def _general_calls():
    """Calls through the validating paths: states, lengths, float64 and strided inputs,
    unbatched input, a two-layer bidirectional model, and calls that raise."""
    lstm = gatedrnn.LSTM(I, H, num_layers=2, bidirectional=True, seed=1, num_threads=1)
    gru = gatedrnn.GRU(I, H, batch_first=True, seed=1, num_threads=1)
    lcell = gatedrnn.LSTMCell(I, H, seed=1)
    x = _x((3, 2, I), 1)
    h0, c0 = _x((4, 2, H), 2), _x((4, 2, H), 3)
    x64 = x.astype(np.float64)
    x_strided = _x((3, 2, 2 * I), 4)[:, :, ::2]
    lengths = np.array([3, 1])
    bad = _x((3, 2, I + 1), 5)

    def raises():
        try:
            lstm(bad)
        except ValueError:
            pass
        else:  # pragma: no cover
            raise AssertionError("expected ValueError")

    return [
        ("lstm_state_lengths", lambda: lstm(x, (h0, c0), lengths=lengths)),
        ("lstm_float64", lambda: lstm(x64)),
        ("gru_strided_batch_first", lambda: gru(x_strided, lengths=[1, 2, 0])),
        ("gru_unbatched", lambda: gru(x[:, 0])),
        ("lstm_cell_state_list", lambda: lcell(x[0], [h0[0], c0[0]])),
        ("raises", raises),
    ]


def _run(fn, n):
    for _ in range(n):
        fn()


def _rss_growth(which):
    """Bytes RSS grew per call kind: warm-up, then the measured calls ("fast": 100,000 of
    each fast call; "general": 20,000 of each validating path)."""
    calls, n = (_fast_calls(), CALLS) if which == "fast" else (_general_calls(), 20_000)
    grown = {}
    for name, fn in calls:
        _run(fn, WARMUP)
        gc.collect()
        before = _rss()
        _run(fn, n)
        gc.collect()
        grown[name] = _rss() - before
    return grown


def _rss_growth_in_fresh_process(which):
    """_rss_growth in a new interpreter that imports only NumPy and gatedrnn: the libraries
    other tests load (torch, onnxruntime, keras, dask) keep threads that allocate on their
    own, which this process's RSS would count."""
    import json
    import subprocess

    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import test_leaks; "
            "print(json.dumps(test_leaks._rss_growth(sys.argv[2])))")
    out = subprocess.run([sys.executable, "-c", code, os.path.dirname(os.path.abspath(__file__)), which],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_rss
def test_rss_flat_over_100k_calls():
    """100,000 calls of each fast call (LSTM, GRU, cells, stream steps)."""
    grown = _rss_growth_in_fresh_process("fast")
    assert all(g < RSS_SLACK for g in grown.values()), f"RSS growth in bytes over {CALLS} calls: {grown}"


@needs_rss
def test_rss_flat_over_general_and_error_paths():
    """20,000 calls through each validating path (states, lengths, conversions, errors)."""
    grown = _rss_growth_in_fresh_process("general")
    # 20,000 calls: half the slack, so 64 bytes leaked per call (a small ndarray's data) shows.
    assert all(g < RSS_SLACK // 2 for g in grown.values()), f"RSS growth in bytes over 20000 calls: {grown}"


def test_rss_check_can_see_a_leak():
    """The measurement works: keeping every output of 20,000 calls shows up in RSS."""
    if not os.path.exists("/proc/self/statm") or _under_asan():
        pytest.skip("needs /proc/self/statm, and not under ASan")
    lstm = gatedrnn.LSTM(I, 64, seed=0, num_threads=1)
    x = _x((1, 1, I))
    gc.collect()
    before = _rss()
    kept = [lstm(x) for _ in range(20_000)]  # y, h, c: 3 x 256 bytes of data each
    assert _rss() - before > RSS_SLACK
    del kept


def _refcounts(arrays):
    return [sys.getrefcount(a) for a in arrays]


@pytest.mark.parametrize("kind", ["lstm", "gru", "lstm_cell", "gru_cell", "stream"])
def test_no_reference_leaks(kind):
    n = 2_000
    x3, x2 = _x((2, 3, I)), _x((3, I))
    h3, c3 = _x((1, 3, H), 1), _x((1, 3, H), 2)
    h2, c2 = h3[0].copy(), c3[0].copy()
    lengths = np.array([2, 0, 1])
    if kind == "lstm":
        m = gatedrnn.LSTM(I, H, seed=0, num_threads=1)
        args = [x3, h3, c3, lengths]
        calls = [lambda: m(x3), lambda: m(x3, (h3, c3), lengths=lengths)]
    elif kind == "gru":
        m = gatedrnn.GRU(I, H, seed=0, num_threads=1)
        args = [x3, h3, lengths]
        calls = [lambda: m(x3), lambda: m(x3, h3, lengths=lengths)]
    elif kind == "lstm_cell":
        m = gatedrnn.LSTMCell(I, H, seed=0)
        args = [x2, h2, c2]
        calls = [lambda: m(x2), lambda: m(x2, (h2, c2))]
    elif kind == "gru_cell":
        m = gatedrnn.GRUCell(I, H, seed=0)
        args = [x2, h2]
        calls = [lambda: m(x2), lambda: m(x2, h2)]
    else:
        if not hasattr(gatedrnn.LSTM, "stream"):
            pytest.skip("no streaming API")
        s = gatedrnn.LSTM(I, H, seed=0, num_threads=1).stream(batch_size=3)
        args = [x2, x3]
        calls = [lambda: s.step(x2), lambda: s(x3)]

    wrong = np.zeros((3, 2, I + 1), np.float32)  # wrong feature size in every layout
    args.append(wrong)

    def bad_call():
        with pytest.raises(ValueError):
            if kind == "stream":
                s.step(wrong[0])
            elif kind.endswith("cell"):
                m(wrong[0])
            else:
                m(wrong)

    calls.append(bad_call)

    for fn in calls:  # warm up: caches, workspaces
        _run(fn, 10)
    # An output is freed as soon as it is dropped.
    out = calls[0]()
    flat = [o for part in (out if isinstance(out, tuple) else (out,))
            for o in (part if isinstance(part, tuple) else (part,))]
    refs = [weakref.ref(o) for o in flat]
    del out, flat
    assert all(r() is None for r in refs), "an output is still referenced after it was dropped"

    before = _refcounts(args)
    gc.collect()
    gc_before = len(gc.get_objects())
    for fn in calls:
        _run(fn, n)
    gc.collect()
    gc_after = len(gc.get_objects())
    assert _refcounts(args) == before, "a call leaked a reference to an argument"
    assert gc_after - gc_before <= GC_SLACK, f"gc-tracked objects grew by {gc_after - gc_before} over {n} calls each"


def test_models_are_freed():
    """Models and streams are freed as soon as they are dropped (no reference cycle)."""
    for make in (lambda: gatedrnn.LSTM(I, H, num_layers=2, seed=0), lambda: gatedrnn.GRUCell(I, H, seed=0)):
        m = make()
        m(_x((1, I)) if isinstance(m, gatedrnn.GRUCell) else _x((2, 1, I)))
        refs = [weakref.ref(m)]
        if hasattr(m, "stream"):
            s = m.stream()
            s.step(_x((1, I)))
            refs.append(weakref.ref(s))
            del s
        del m
        assert all(r() is None for r in refs)


@needs_rss
def test_rss_flat_over_model_lifetimes():
    """Constructing, calling and dropping models frees their packed weights and workspaces
    (each LSTM(64, 128) below holds ~0.4 MiB of packed weights)."""
    x = _x((4, 2, 64))

    def cycle():
        m = gatedrnn.LSTM(64, 128, seed=0, num_threads=1)
        m(x)
        m.load_state_dict(m.state_dict())
        m(x)

    _run(cycle, 50)
    gc.collect()
    before = _rss()
    _run(cycle, 500)
    gc.collect()
    assert _rss() - before < RSS_SLACK
