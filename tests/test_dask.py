"""Scale-out: batch inference on a dask.distributed LocalCluster of worker processes gives
exactly the single-process outputs, and the documented example runs.

The model travels to the workers by pickling (``client.scatter``), each worker runs it on
its chunks of the batch, and the gathered result must equal, to the bit, one in-process
call over the whole batch: every sequence is computed independently of how the batch is
split, and the workers run the same kernels (the same ISA) as this process.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

import dask.array as da  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402

import gatedrnn  # noqa: E402

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "dask_batch_inference.py"


def _env():
    """This process's environment, with this gatedrnn importable and the same kernels."""
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(gatedrnn.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env["GATEDRNN_ISA"] = gatedrnn.selected_isa()
    return env


def _lstm_chunk(x, lengths, model):
    return model(x, lengths=lengths)[0]


def _gru_chunk(x, model):
    return model(x)[0]


def test_local_cluster_matches_single_process():
    rng = np.random.default_rng(0)
    n, T, I = 64, 12, 10
    lstm = gatedrnn.LSTM(I, 17, num_layers=2, bidirectional=True, proj_size=5, batch_first=True,
                         num_threads=1, seed=0)
    gru = gatedrnn.GRU(I, 16, linear_before_reset=False, num_threads=1, seed=1)  # time-major (T, B, I)
    x_bf = rng.standard_normal((n, T, I)).astype(np.float32)
    lengths = rng.integers(0, T + 1, size=n)
    x_tm = np.ascontiguousarray(x_bf.transpose(1, 0, 2))

    expected_lstm = lstm(x_bf, lengths=lengths)[0]
    expected_gru = gru(x_tm)[0]

    # Uneven chunks along the batch axis (axis 0 batch-first, axis 1 time-major).
    chunks = (20, 20, 20, 4)
    x_lstm = da.from_array(x_bf, chunks=(chunks, T, I))
    len_d = da.from_array(lengths, chunks=(chunks,))
    x_gru = da.from_array(x_tm, chunks=(T, chunks, I))

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                      env={k: _env()[k] for k in ("PYTHONPATH", "GATEDRNN_ISA")}) as cluster, \
            Client(cluster) as client:
        lstm_f, gru_f = client.scatter([lstm, gru], broadcast=True)
        y_lstm = da.blockwise(_lstm_chunk, "btk", x_lstm, "bti", len_d, "b", model=lstm_f,
                              new_axes={"k": 10}, concatenate=True, dtype=np.float32)
        y_gru = x_gru.map_blocks(_gru_chunk, model=gru_f, chunks=(T, chunks, 16), dtype=np.float32)
        got_lstm, got_gru = client.compute([y_lstm, y_gru], sync=True)
        # The work really was spread over both worker processes.
        pids = client.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()

    for got, expected in ((got_lstm, expected_lstm), (got_gru, expected_gru)):
        assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == expected.shape
        assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_example_runs():
    """The example script, run as a user would (a small dataset), checks its own result
    against a single-process run and says so."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--sequences", "48", "--steps", "6", "--chunk", "16", "--input-size", "5",
         "--hidden-size", "8", "--check"],
        capture_output=True, text=True, timeout=120, env=_env(), cwd=EXAMPLE.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "outputs: (48, 6, 16) float32" in proc.stdout, proc.stdout
    assert "check: identical to the single-process run" in proc.stdout, proc.stdout


def _example_module():
    spec = importlib.util.spec_from_file_location("dask_batch_inference", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_pieces_with_a_saved_model(tmp_path):
    """The example's functions in this process (Dask's synchronous scheduler, no cluster):
    a GRU saved with model.save, loaded by build_model, run chunk by chunk by infer."""
    ex = _example_module()
    path = tmp_path / "gru.safetensors"
    gatedrnn.GRU(4, 7, bidirectional=True, seed=3).save(path)
    model = ex.build_model(str(path), input_size=0, hidden_size=0)
    assert isinstance(model, gatedrnn.GRU) and model.batch_first and model.num_threads == 1
    assert ex.output_size(model) == 14
    x, lengths = ex.make_dataset(20, 5, 4, chunk=8, seed=1)
    assert x.numblocks == (3, 1, 1) and lengths.numblocks == (3,)
    y = ex.infer(x, lengths, model, ex.output_size(model)).compute(scheduler="synchronous")
    x_all, lengths_all = x.compute(scheduler="synchronous"), lengths.compute(scheduler="synchronous")
    assert lengths_all.min() >= 1 and lengths_all.max() <= 5
    expected = model(x_all, lengths=lengths_all)[0]
    assert y.shape == (20, 5, 14)
    assert np.array_equal(y.view(np.uint32), expected.view(np.uint32))
