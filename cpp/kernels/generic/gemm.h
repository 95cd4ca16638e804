// Input projection of all timesteps at once: one GEMM on the packed W_ih panels.
// Included inside namespace gatedrnn::<isa> (see README.md): no guard, no includes.
//
//     gx[m][b][g][:] = bias[b][g][:] + sum_k x_m[k] * W_ih panel[b][g][k][:]
//
// The tile is kGemmRows rows x kGemmCols vectors of a block's G * 16 outputs, the classic
// register-blocked micro-kernel; the panel is gate-major, so each of its weight vectors
// runs through k contiguously (16 floats per k). In bf16 and int8, panel and A hold pairs
// or quads (tile.h's accumulate) and K counts them; int8 sums start from the panel's
// comp (or 0, tile.h's sum_start) and are dequantised with row m's a_scale[m] before the bias is added.

template <int G, int MR, Precision P, bool kAhead = false>
GATEDRNN_TILE void gemm_tile(const GemmArgs& args, int i0, int b, int c0, Ahead ahead = Ahead{}) {
    constexpr int NC = kGemmCols<G>;
    V acc[MR][NC];
    const float* x[MR];
    const float* col[NC];
    const ptrdiff_t row_off = static_cast<ptrdiff_t>(b) * G * kBlock + c0 * kLanes;
    const auto bias = [&](int c) { return args.bias ? load(args.bias + row_off + c * kLanes) : zero(); };
    for (int r = 0; r < MR; ++r) {
        const int m = args.m_begin + i0 + r;
        x[r] = args.a + (m / args.rows_per_t) * args.a_st + (m % args.rows_per_t) * args.a_sb;
        for (int c = 0; c < NC; ++c)
            acc[r][c] = P != Precision::int8 ? bias(c) : kInt8Centred ? zero() : load(args.w.comp + row_off + c * kLanes);
    }
    for (int c = 0; c < NC; ++c) {
        const int v = c0 + c;  // vector v of the block's outputs: gate v / kSub
        col[c] = args.w.block(b) + static_cast<ptrdiff_t>(v / kSub) * args.w.K * kBlock + (v % kSub) * kLanes;
    }
    accumulate<MR, NC, 0, P, kAhead>(acc, x, col, kBlock, args.w.K, ahead);
    for (int r = 0; r < MR; ++r) {
        const int m = args.m_begin + i0 + r;
        float* out = args.c + static_cast<ptrdiff_t>(m) * args.ldc + row_off;
        for (int c = 0; c < NC; ++c) {
            V y = acc[r][c];
            if constexpr (P == Precision::int8)
                y = add(mul(int_to_float(y), mul(broadcast(args.a_scale[m]), load(args.w.scale + row_off + c * kLanes))),
                        bias(c));
            store(out + c * kLanes, y);
        }
    }
}

template <int G, Precision P>
inline void gemm_gates(const GemmArgs& args) {
    constexpr int MR = kGemmRows<G, P>;
    constexpr int NC = kGemmCols<G>;
    static_assert((G * kSub) % NC == 0, "a GEMM tile must divide a block row");
    const int n = args.m_end - args.m_begin;
    // Cache blocking: a chunk of rows (about 384 KiB of x) and one block's panel (K x G x 16
    // floats) both stay in L2 while every tile of the chunk sweeps them; each chunk streams
    // the panels of the block range once.
    const int chunk = std::max(MR, (98304 / std::max(args.w.K, 1)) / MR * MR);
    // Lookahead: the first tiles of a block prefetch the next block's panel, kAheadStep
    // bytes per k-row each, until all of it is asked for (the panels stream from L3 or
    // memory once per chunk when the block range is several times L2).
    constexpr uintptr_t kAheadStep = 16;
    const uintptr_t panel_bytes = static_cast<uintptr_t>(args.w.K) * G * kBlock * sizeof(float);
    const uintptr_t per_tile = static_cast<uintptr_t>(args.w.K) * kAheadStep;
    for (int m0 = 0; m0 < n; m0 += chunk) {
        const int m1 = std::min(n, m0 + chunk);
        for (int b = args.blk_begin; b < args.blk_end; ++b) {
            // The next panel: the next block's, or the range's first for the next chunk.
            const int next = b + 1 < args.blk_end ? b + 1 : m1 < n ? args.blk_begin : -1;
            const bool ahead = kLookahead<P> && args.lookahead && next >= 0;
            const uintptr_t from = ahead ? reinterpret_cast<uintptr_t>(args.w.block(next)) : 0;
            uintptr_t asked = ahead ? 0 : panel_bytes;
            const auto tile = [&](auto rows, int i, int c0) {
                constexpr int R = decltype(rows)::value;
                if constexpr (kLookahead<P>) {
                    if (asked < panel_bytes) {
                        gemm_tile<G, R, P, true>(args, i, b, c0, Ahead{from + asked, kAheadStep});
                        asked += per_tile;
                        return;
                    }
                }
                gemm_tile<G, R, P>(args, i, b, c0);
            };
            int i = m0;
            for (; i + MR <= m1; i += MR)
                for (int c0 = 0; c0 < G * kSub; c0 += NC) tile(std::integral_constant<int, MR>{}, i, c0);
            if (i < m1)
                with_rows<MR - 1>(m1 - i, [&](auto rows) {
                    for (int c0 = 0; c0 < G * kSub; c0 += NC) tile(rows, i, c0);
                });
        }
    }
}

template <Precision P>
inline void gemm(const GemmArgs& args) {
    switch (args.w.G) {
        case 1: gemm_gates<1, P>(args); break;
        case 2: gemm_gates<2, P>(args); break;
        case 3: gemm_gates<3, P>(args); break;
        case 4: gemm_gates<4, P>(args); break;
        default: break;  // packers only make G in 1..4
    }
}
