#!/bin/sh
# Builds the A/B harness from two source trees: ab.sh TREE_A TREE_B OUT_BINARY
# (each tree is a gatedrnn checkout; `git worktree add /tmp/base HEAD` gives the baseline).
# Then: OUT_BINARY layer lstm 128 32 256 256 1 avx2     -> the median ratio b / a.
set -e
A=$1 B=$2 OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
FLAGS="-O3 -std=c++17 -ffp-contract=off -fno-math-errno -DGATEDRNN_HAVE_X86_KERNELS=1 -DGATEDRNN_HAVE_AVX512_KERNELS=1"
build() {  # tree namespace
    for f in "$1"/cpp/src/*.cpp "$HERE/runner.cpp"; do
        g++ $FLAGS -Dgatedrnn=$2 -I"$1/cpp/include" -c "$f" -o "$WORK/$2_$(basename "$f").o" &
    done
    g++ $FLAGS -Dgatedrnn=$2 -I"$1/cpp/include" -c "$1/cpp/kernels/scalar/kernels_scalar.cpp" -o "$WORK/$2_ks.o" &
    g++ $FLAGS -Dgatedrnn=$2 -I"$1/cpp/include" -mavx2 -mfma -c "$1/cpp/kernels/avx2/kernels_avx2.cpp" -o "$WORK/$2_k2.o" &
    g++ $FLAGS -Dgatedrnn=$2 -I"$1/cpp/include" -mavx512f -mavx512cd -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma \
        -Wno-uninitialized -c "$1/cpp/kernels/avx512/kernels_avx512.cpp" -o "$WORK/$2_k5.o" &
    wait
}
build "$A" gatedrnn_a
build "$B" gatedrnn_b
g++ $FLAGS -c "$HERE/main.cpp" -o "$WORK/main.o"
g++ "$WORK"/*.o -o "$OUT" -lpthread
rm -rf "$WORK"
