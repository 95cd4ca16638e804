// The register-blocked tile loop behind every kernel.
// Included inside namespace gatedrnn::<isa> (see README.md): no guard, no includes.
//
// For output blocks [blk_begin, blk_end) of a packed panel and rows [0, n):
//     acc[g] = start(row, block, g) + sum_{k < K} a_row[k] * panel[block][k][g][:]
// accumulated in registers as one multiply-add chain per output in k order, then handed
// to the epilogue. Three callables describe a kernel:
//     a(i)              -> const float*, row i's input vector (K floats)
//     init(i, b, acc)   -> writes the G start values of row i, block b into acc[0..G)
//     epi(i, b, acc)    -> consumes the G finished accumulators of row i, block b
// Tiles are MR rows x NB blocks x G gates (kTileRows / kGemvBlocks in vec_<isa>.h).
// Whatever the tile shape, each output's arithmetic is the same, so results do not depend
// on the batch size or on a row's position in it.

template <int G, int MR, int NB, class A, class Init, class Epi>
inline void tile(int i0, int b0, const PanelView& w, const A& a, const Init& init, const Epi& epi) {
    V acc[MR][NB][G];
    const float* x[MR];
    const float* p[NB];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        x[r] = a(i0 + r);
#pragma GCC unroll 2
        for (int j = 0; j < NB; ++j) init(i0 + r, b0 + j, acc[r][j]);
    }
#pragma GCC unroll 2
    for (int j = 0; j < NB; ++j) p[j] = w.block(b0 + j);

    const int K = w.K;
#pragma GCC unroll 4
    for (int k = 0; k < K; ++k) {
        V xk[MR];
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) xk[r] = broadcast(x[r][k]);
#pragma GCC unroll 2
        for (int j = 0; j < NB; ++j) {
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) {
                const V wv = load(p[j] + (static_cast<ptrdiff_t>(k) * G + g) * kBlock);
#pragma GCC unroll 8
                for (int r = 0; r < MR; ++r) acc[r][j][g] = fmadd(wv, xk[r], acc[r][j][g]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 2
        for (int j = 0; j < NB; ++j) epi(i0 + r, b0 + j, acc[r][j]);
    }
}

// Rows left over after the full MR tiles: one tile of exactly `rest` rows (rest < MR).
template <int G, int R, class A, class Init, class Epi>
inline void tile_rest(int rest, int i0, int b, const PanelView& w, const A& a, const Init& init,
                      const Epi& epi) {
    if constexpr (R >= 1) {
        if (rest == R) {
            tile<G, R, 1>(i0, b, w, a, init, epi);
        } else {
            tile_rest<G, R - 1>(rest, i0, b, w, a, init, epi);
        }
    }
}

template <int G, class A, class Init, class Epi>
inline void tile_loop(int n, int blk_begin, int blk_end, const PanelView& w, const A& a,
                      const Init& init, const Epi& epi) {
    if constexpr (kGemvBlocks > 1) {
        if (n == 1) {  // batch 1: a GEMV; sweep several blocks per pass for more independent chains
            int b = blk_begin;
            for (; b + kGemvBlocks <= blk_end; b += kGemvBlocks)
                tile<G, 1, kGemvBlocks>(0, b, w, a, init, epi);
            for (; b < blk_end; ++b) tile<G, 1, 1>(0, b, w, a, init, epi);
            return;
        }
    }
    constexpr int MR = kTileRows<G>;
    for (int b = blk_begin; b < blk_end; ++b) {  // a block's panel stays in cache across rows
        int i = 0;
        for (; i + MR <= n; i += MR) tile<G, MR, 1>(i, b, w, a, init, epi);
        if (i < n) tile_rest<G, MR - 1>(n - i, i, b, w, a, init, epi);
    }
}

// Store the first `valid` lanes of a block into caller memory (y rows are not padded).
inline void store_valid(float* p, V v, int valid) {
    if (valid >= kBlock) {
        store(p, v);
    } else {
        store_n(p, v, valid);
    }
}
