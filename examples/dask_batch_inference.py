"""Batch inference with gatedrnn on a Dask cluster.

When one process is not enough, split the dataset along the batch axis and let Dask run
the model on every chunk in parallel, on worker processes of one machine
(``LocalCluster``) or of many (the same code with a ``Client`` connected to a remote
scheduler). This script:

1. builds a model (or loads one saved with ``model.save(path)``),
2. describes a dataset of padded sequences and their lengths as Dask arrays chunked along
   the batch axis (here generated on the workers; a real dataset would come from
   ``da.from_zarr``, ``da.from_npy_stack`` or ``da.from_delayed`` readers),
3. starts a ``LocalCluster`` of single-threaded worker processes,
4. sends the model to every worker once (``client.scatter(..., broadcast=True)``),
5. runs ``model(chunk, lengths=chunk_lengths)`` on every chunk with ``da.blockwise`` and
   gathers the outputs (``y.compute()``; for outputs larger than memory, write them with
   ``y.to_zarr(...)`` or ``da.to_npy_stack(...)`` instead),
6. with ``--check``, runs the model once over the whole dataset in this process and checks
   that the distributed result is identical to the bit (gatedrnn's kernels compute every
   sequence independently of how the batch is split).

Run it::

    python examples/dask_batch_inference.py                      # 4096 sequences, 2 workers
    python examples/dask_batch_inference.py --sequences 256 --check
    python examples/dask_batch_inference.py --model lstm.safetensors --workers 4

Needs ``pip install "dask[distributed]"``.

Why scatter the model? A gatedrnn layer pickles as its configuration and weights and is
rebuilt (its weights packed) when unpickled. Passed directly as an argument of
``blockwise`` / ``map_blocks``, the model would be serialised into every task of the graph
and rebuilt once per chunk; scattered with ``broadcast=True`` it is sent to each worker
once, unpickled once there, and every task on that worker refers to the same object. For a
model of a few kilobytes either way works; for a model of megabytes scattering saves the
repeated transfers and rebuilds.

Threads: each worker process runs one task at a time (``threads_per_worker=1``), so the
model should use one thread as well (``num_threads=1``, kept when the model is pickled):
``n_workers`` processes x 1 thread fill ``n_workers`` cores without oversubscribing them.
Chunks of a few hundred sequences keep every call efficient (the kernels run the whole
chunk as one batch) while leaving several chunks per worker to balance the load.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

import numpy as np

import gatedrnn

if TYPE_CHECKING:
    import dask.array as da
    from dask.distributed import Future

Model = Union[gatedrnn.LSTM, gatedrnn.GRU]


def build_model(path: Optional[str], input_size: int, hidden_size: int) -> Model:
    """The model to run: loaded from ``path`` if given, else a random bidirectional
    2-layer LSTM. Either way it runs with one thread (see the module docstring) and takes
    batch-first input (B, T, input_size), so chunks along axis 0 are sets of sequences."""
    if path:
        loaded = gatedrnn.load(path)
        if isinstance(loaded, (gatedrnn.LSTMCell, gatedrnn.GRUCell)):
            raise SystemExit(f"{path}: expected a sequence model (LSTM or GRU), got {type(loaded).__name__}")
        model: Model = loaded
    else:
        model = gatedrnn.LSTM(input_size, hidden_size, num_layers=2, bidirectional=True, seed=0)
    model.batch_first = True
    model.num_threads = 1
    return model


def output_size(model: Model) -> int:
    """The last axis of the model's output: D * (proj_size or hidden_size)."""
    directions = 2 if model.bidirectional else 1
    return directions * (getattr(model, "proj_size", 0) or model.hidden_size)


def make_dataset(n_sequences: int, steps: int, input_size: int, chunk: int,
                 seed: int = 0) -> "Tuple[da.Array, da.Array]":
    """A synthetic dataset as lazy Dask arrays: x (n_sequences, steps, input_size) float32
    and lengths (n_sequences,) int64 in [1, steps], both chunked by ``chunk`` sequences.
    Each chunk is generated on the worker that processes it."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    x = rng.standard_normal((n_sequences, steps, input_size), chunks=(chunk, steps, input_size), dtype=np.float32)
    lengths = rng.integers(1, steps + 1, size=n_sequences, chunks=chunk, dtype=np.int64)
    return x, lengths


def run_chunk(x: np.ndarray, lengths: np.ndarray, model: Model) -> np.ndarray:
    """Runs on a worker: the model's output for one chunk of sequences (B_chunk, T, out)."""
    return model(x, lengths=lengths)[0]


def infer(x: "da.Array", lengths: "da.Array", model_or_future: "Union[Model, Future[Model]]",
          out_size: int) -> "da.Array":
    """The lazy Dask array of outputs: ``run_chunk`` on every chunk of ``x`` with the
    matching chunk of ``lengths`` (index b = batch, t = time, i = input, k = output)."""
    import dask.array as da

    y: da.Array = da.blockwise(run_chunk, "btk", x, "bti", lengths, "b", model=model_or_future,
                               new_axes={"k": out_size}, concatenate=True, dtype=np.float32)
    return y


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=4096, help="number of sequences (default 4096)")
    parser.add_argument("--steps", type=int, default=50, help="time steps per sequence (default 50)")
    parser.add_argument("--chunk", type=int, default=256, help="sequences per chunk (default 256)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--model", help="a model saved with model.save(path) (default: a random LSTM)")
    parser.add_argument("--input-size", type=int, default=40, help="input size of the random model (default 40)")
    parser.add_argument("--hidden-size", type=int, default=128, help="hidden size of the random model (default 128)")
    parser.add_argument("--check", action="store_true", help="compare with one in-process run over the whole dataset")
    args = parser.parse_args(argv)

    from dask.distributed import Client, LocalCluster

    model = build_model(args.model, args.input_size, args.hidden_size)
    x, lengths = make_dataset(args.sequences, args.steps, model.input_size, args.chunk)
    print(f"model: {model!r}; dataset: x {x.shape} in {x.numblocks[0]} chunks of up to {args.chunk} sequences")

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster) as client:
        print(f"cluster: {args.workers} worker processes; dashboard at {client.dashboard_link}")
        model_future = client.scatter(model, broadcast=True)  # pickled, sent and rebuilt once per worker
        start = time.perf_counter()
        y = infer(x, lengths, model_future, output_size(model)).compute()
        seconds = time.perf_counter() - start
        print(f"outputs: {y.shape} {y.dtype} in {seconds:.2f} s "
              f"({args.sequences / seconds:,.0f} sequences/s)")
        if args.check:
            x_all, lengths_all = client.compute([x, lengths], sync=True)  # the same data, here
    if args.check:
        expected, _ = model(x_all, lengths=lengths_all)
        if not np.array_equal(y, expected):
            print(f"check: MISMATCH, max |difference| {np.abs(y - expected).max():.3g}")
            return 1
        print("check: identical to the single-process run")
    return 0


if __name__ == "__main__":  # required: the worker processes are started with spawn
    raise SystemExit(main())
