"""Streaming inference: an LSTM over audio features that arrive one frame at a time.

A speech or audio model in production sees its input as it is recorded: here 40 log-mel
features every 10 ms (100 frames/s, the usual front end of speech recognisers), computed
from a synthetic 16 kHz signal (a chirp, two tones and noise). ``model.stream()`` keeps the
LSTM's state inside a ``gatedrnn.Stream``, so each frame costs one step: ``s.step(frame)``
takes (1, 40) and returns that frame's output (1, H), updating the state in place. This
script:

1. computes the features (NumPy only: framing, Hann window, power spectrum, a triangular
   mel filterbank, log, per-channel normalisation),
2. feeds them to a 2-layer LSTM (or ``--kind gru``) frame by frame, timing every step,
   and prints the per-step latency percentiles (p50 / p90 / p99 / max, in microseconds)
   against the 10 ms a frame lasts,
3. feeds them again in chunks of ``--chunk`` frames (``s(chunk)``, for a front end that
   delivers e.g. 100 ms at a time),
4. checks that both give bitwise the outputs and the final state of one call over the whole
   sequence, as the README promises ("Feeding a sequence step by step or in chunks of any
   size gives bitwise the outputs of one call over the whole sequence").

With ``--realtime`` the frames are paced at 100 frames/s, as from a microphone, and the
model idles between steps as in a real deployment. Expect several times the back-to-back
latency then: after 10 ms of other work the weights, the code and the branch history are
no longer in the core's caches (and with ``--threads 2`` a step is too small to wake the
second thread; it runs on one).

Run it::

    python examples/streaming_audio.py
    python examples/streaming_audio.py --seconds 30 --hidden-size 512 --kind gru
    python examples/streaming_audio.py --seconds 5 --realtime

Needs only NumPy and gatedrnn. Exits with status 1 if a streamed result differs from the
whole-sequence call.
"""

from __future__ import annotations

import argparse
import time
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

import gatedrnn

Array = npt.NDArray[np.float32]
Model = Union[gatedrnn.LSTM, gatedrnn.GRU]

SAMPLE_RATE = 16_000
HOP = 160  # 10 ms: 100 frames/s
WINDOW = 400  # 25 ms
N_FFT = 512
N_MELS = 40


def synthetic_audio(seconds: float, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """A chirp from 200 Hz to 4 kHz, two steady tones and a little noise."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0, f1 = 200.0, 4000.0
    chirp = np.sin(2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2))
    tones = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 1250.0 * t)
    out: npt.NDArray[np.float64] = 0.5 * chirp + tones + 0.05 * rng.standard_normal(t.size)
    return out


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int) -> npt.NDArray[np.float64]:
    """Triangular filters (n_mels, n_fft // 2 + 1) equally spaced on the mel scale."""
    def mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(0.0, mel(np.array(sample_rate / 2.0)), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel_features(audio: npt.NDArray[np.float64]) -> Array:
    """(frames, 40) float32 log-mel features, one frame per 10 ms, each channel normalised
    to zero mean and unit variance (a deployed model would use its training set's
    statistics)."""
    frames = 1 + (audio.size - WINDOW) // HOP
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(frames)[:, None]
    spectrum = np.abs(np.fft.rfft(audio[index] * np.hanning(WINDOW), n=N_FFT)) ** 2
    logmel = np.log(spectrum @ mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE).T + 1e-6)
    logmel = (logmel - logmel.mean(axis=0)) / (logmel.std(axis=0) + 1e-6)
    return np.ascontiguousarray(logmel, dtype=np.float32)


def build_model(kind: str, hidden_size: int, threads: int) -> Model:
    if kind == "lstm":
        return gatedrnn.LSTM(N_MELS, hidden_size, num_layers=2, seed=0, num_threads=threads)
    return gatedrnn.GRU(N_MELS, hidden_size, num_layers=2, seed=0, num_threads=threads)


def stream_frames(stream: gatedrnn.Stream, features: Array, realtime: bool) -> Tuple[Array, List[float]]:
    """Every frame through ``stream.step``: the outputs (T, 1, H) and each step's seconds.
    With ``realtime``, frame t is fed when it would have been recorded (t * 10 ms)."""
    outputs: List[Array] = []
    latencies: List[float] = []
    start = time.perf_counter()
    for t in range(features.shape[0]):
        if realtime:
            wait = start + t * HOP / SAMPLE_RATE - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        frame = features[t:t + 1]  # (1, 40): batch of one, a view
        t0 = time.perf_counter()
        y: Array = stream.step(frame)  # (1, H)
        latencies.append(time.perf_counter() - t0)
        outputs.append(y)
    return np.stack(outputs), latencies


def state_parts(state: Union[Array, Tuple[Array, Array]]) -> List[Array]:
    """A stream's or a layer's final state as a list: [h, c] (LSTM) or [h] (GRU)."""
    return list(state) if isinstance(state, tuple) else [state]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of audio (default 10: 1000 frames)")
    parser.add_argument("--kind", choices=("lstm", "gru"), default="lstm", help="model (default lstm)")
    parser.add_argument("--hidden-size", type=int, default=256, help="hidden units of both layers (default 256)")
    parser.add_argument("--chunk", type=int, default=10, help="frames per chunk in the chunked pass (default 10)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of the model (default 1: a step is small, and a real-time stream "
                             "leaves the other cores to the rest of the application)")
    parser.add_argument("--realtime", action="store_true", help="feed the frames at 100 frames/s")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    features = log_mel_features(synthetic_audio(args.seconds, rng))
    T = features.shape[0]
    model = build_model(args.kind, args.hidden_size, args.threads)
    print(f"features: {T} frames x {N_MELS} log-mel ({T / 100:.1f} s at 100 frames/s); model: {model!r}, "
          f"{args.threads} thread(s), ISA {gatedrnn.selected_isa()}")

    # The reference: one call over the whole sequence (T, B=1, 40).
    whole = model(features[:, None, :])
    y_whole: Array = whole[0]
    state_whole = state_parts(whole[1])

    stream = model.stream(batch_size=1)
    for t in range(min(T, 20)):  # warm-up (first-touch of the buffers), then start again
        stream.step(features[t:t + 1])
    stream.reset()
    y_steps, latencies = stream_frames(stream, features, args.realtime)
    state_steps = state_parts(stream.state)

    us = 1e6 * np.array(latencies)
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    print(f"per-step latency{' (paced at 100 frames/s)' if args.realtime else ''}: p50 {p50:.0f} us, "
          f"p90 {p90:.0f} us, p99 {p99:.0f} us, max {us.max():.0f} us; "
          f"{100 * np.median(us) / 10_000:.2f} % of the 10 ms frame period")

    stream.reset()
    t0 = time.perf_counter()
    chunks = [stream(features[s:s + args.chunk, None, :]) for s in range(0, T, args.chunk)]  # (chunk, 1, 40) each
    chunk_seconds = time.perf_counter() - t0
    y_chunks = np.concatenate(chunks)
    state_chunks = state_parts(stream.state)
    print(f"chunks of {args.chunk} frames: {len(chunks)} calls, {1e6 * chunk_seconds / len(chunks):.0f} us per chunk "
          f"({1e6 * chunk_seconds / T:.1f} us per frame)")

    ok = True
    passes = (("step by step", y_steps, state_steps), (f"in chunks of {args.chunk}", y_chunks, state_chunks))
    for name, y, state in passes:
        same = np.array_equal(y, y_whole) and all(np.array_equal(a, b) for a, b in zip(state, state_whole))
        if not same:
            diff = float(np.abs(y.astype(np.float64) - y_whole).max())
            print(f"check: streamed {name}: NOT bitwise equal to the whole-sequence call (max |diff| {diff:.3g})")
            ok = False
    if ok:
        print(f"check: outputs {y_whole.shape} and final state streamed step by step and in chunks are bitwise "
              "equal to the whole-sequence call")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
