// Input projection of all timesteps at once: one GEMM on the packed W_ih panels.
// Included inside namespace gatedrnn::<isa> (see README.md): no guard, no includes.
//
//     gx[m][b][g][:] = bias[b][g][:] + sum_k x_m[k] * W_ih panel[b][k][g][:]
//
// The result is gate-interleaved like the panels, so a step reads its block's G
// pre-activations as G consecutive vectors.

template <int G>
inline void gemm_gates(const GemmArgs& args) {
    const auto a = [&](int i) {
        const int m = args.m_begin + i;
        return args.a + (m / args.rows_per_t) * args.a_st + (m % args.rows_per_t) * args.a_sb;
    };
    const auto init = [&](int, int b, V* acc) {
        for (int g = 0; g < G; ++g)
            acc[g] = args.bias ? load(args.bias + (b * G + g) * kBlock) : zero();
    };
    const auto epi = [&](int i, int b, const V* acc) {
        float* c = args.c + static_cast<ptrdiff_t>(args.m_begin + i) * args.ldc + b * G * kBlock;
        for (int g = 0; g < G; ++g) store(c + g * kBlock, acc[g]);
    };
    tile_loop<G>(args.m_end - args.m_begin, args.blk_begin, args.blk_end, args.w, a, init, epi);
}

inline void gemm_f32(const GemmArgs& args) {
    switch (args.w.G) {
        case 1: gemm_gates<1>(args); break;
        case 2: gemm_gates<2>(args); break;
        case 3: gemm_gates<3>(args); break;
        case 4: gemm_gates<4>(args); break;
        default: break;  // packers only make G in 1..4
    }
}
