// The register-blocked loops behind every kernel.
// Included inside namespace gatedrnn::<isa> (see README.md): no guard, no includes.
//
// A vector V holds kLanes floats (16 on AVX-512 and scalar, 8 on AVX2), so a 16-unit
// panel block is kSub = 16 / kLanes groups of kLanes units. Every output is one chain of
// multiply-adds in k order from its start value, whatever the tile shape: results do not
// depend on the batch size or on a row's position in the batch.

inline constexpr int kSub = kBlock / kLanes;

// Where group u's gate g sits in its block's G x 16 floats of a gx row (or a packed
// bias) ...
inline ptrdiff_t in_block_offset(int u, int g) { return g * kBlock + (u % kSub) * kLanes; }
// ... and in the whole row, [blocks][G][16].
inline ptrdiff_t gate_offset(int u, int g, int G) {
    return static_cast<ptrdiff_t>(u / kSub) * G * kBlock + in_block_offset(u, g);
}

// acc[r][c] += sum_{k < K} a[r][k] * col[c][k * stride .. + kLanes)
// Per k, whichever operand set is smaller stays in registers: the NC weight vectors (then
// one broadcast per row feeds NC multiply-adds) or the MR broadcasts (then each weight
// vector is loaded once and feeds MR multiply-adds).
//
// With NPF > 0 the columns form NPF streams (sub-blocks) of NC / NPF columns, each
// prefetched kPrefetchRows k-rows ahead: at batch 1 the weights stream from L3 or memory
// once per step, and the hardware prefetcher alone keeps too few lines in flight (AVX2,
// H = 1024: ~1.3x).
inline constexpr int kPrefetchRows = 32;

//
// bf16 and int8 (kernels.h): every 32-bit element, weight or operand, is a pair of
// bfloat16 or a quad of int8, and K counts them. bf16 adds each pair's odd product, then
// its even one: one vdpbf16ps (kNativeBf16), or two multiply-adds of the halves widened
// to fp32; a product of two bfloat16 is exact in fp32, so both round the same sums the
// same way. int8 adds the quad's four operand * weight products to an int32 accumulator
// with one dot4: vpdpbusd takes the operand bytes as stored (u8 = q + 128; the sum starts
// from comp = -128 * sum W_q); the others take the operand centred (signed q, sum from 0:
// kInt8Centred). Integer sums are exact in any order, so every ISA ends at sum q * W_q.
struct Identity {
    V operator()(V v) const { return v; }
};
struct OddHalf {  // the pair's high bfloat16 (element 2k' + 1) as an fp32
    V operator()(V v) const { return odd_half(v); }
};
struct EvenHalf {  // the low one (element 2k')
    V operator()(V v) const { return even_half(v); }
};
struct FusedMultiplyAdd {
    V operator()(V w, V x, V acc) const { return fmadd(w, x, acc); }
};

// acc[r][c] = mac(widen_w(col[c][k]), widen_x(a[r][k]), acc[r][c]): one k-row.
template <int MR, int NC, class WidenW, class WidenX, class Mac>
inline void multiply_add_row(V (&acc)[MR][NC], const float* const (&a)[MR], const float* const (&col)[NC],
                             ptrdiff_t offset, int k, const WidenW& widen_w, const WidenX& widen_x,
                             const Mac& mac) {
    if constexpr (NC <= MR) {
        V w[NC];
#pragma GCC unroll 16
        for (int c = 0; c < NC; ++c) w[c] = widen_w(load(col[c] + offset));
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const V x = widen_x(broadcast(a[r][k]));
#pragma GCC unroll 16
            for (int c = 0; c < NC; ++c) acc[r][c] = mac(w[c], x, acc[r][c]);
        }
    } else {
        V x[MR];
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) x[r] = widen_x(broadcast(a[r][k]));
#pragma GCC unroll 16
        for (int c = 0; c < NC; ++c) {
            const V w = widen_w(load(col[c] + offset));
#pragma GCC unroll 8
            for (int r = 0; r < MR; ++r) acc[r][c] = mac(w, x[r], acc[r][c]);
        }
    }
}

// One k-row in two halves (bf16 widened: the odd, then the even element of each pair).
// The second half loads its operands again (from L1) through indices the compiler cannot
// see are the same: keeping the first half's raw operands in registers for it would
// spill the accumulators on AVX2.
template <int MR, int NC, class W1, class X1, class W2, class X2, class Mac>
inline void multiply_add_halves(V (&acc)[MR][NC], const float* const (&a)[MR], const float* const (&col)[NC],
                                ptrdiff_t stride, int k, const W1& w1, const X1& x1, const W2& w2, const X2& x2,
                                const Mac& mac) {
    multiply_add_row(acc, a, col, k * stride, k, w1, x1, mac);
    int k2 = k;
    ptrdiff_t offset2 = k * stride;
    asm("" : "+r"(k2), "+r"(offset2));
    multiply_add_row(acc, a, col, offset2, k2, w2, x2, mac);
}

// Whether an ISA multiplies this precision's elements in one step (dot2, dot4) or widens
// them to fp32 first (bf16 without vdpbf16ps).
template <Precision P>
inline constexpr bool kNative = P != Precision::bf16 || kNativeBf16;

// A stream of bytes to prefetch while a loop runs: one prefetch per k-row, at from + k * step.
struct Ahead {
    uintptr_t from = 0, step = 0;
};

template <int MR, int NC, int NPF = 0, Precision P = Precision::fp32, bool kAhead = false>
inline void accumulate(V (&acc)[MR][NC], const float* const (&a)[MR], const float* const (&col)[NC],
                       ptrdiff_t stride, int K, Ahead ahead = Ahead{}) {
    // A stream's k-row: NC / NPF vectors from col[first column], on this many cache lines.
    constexpr int kLinesPerRow = NPF > 0 ? (NC / NPF * kLanes * static_cast<int>(sizeof(float)) + 63) / 64 : 0;
    const auto prefetch = [&](int k) {
        for (int c = 0; c < NPF; ++c)  // an address, possibly past the panel: no pointer arithmetic
            for (int line = 0; line < kLinesPerRow; ++line)
                __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(col[c * (NC / NPF)]) +
                                                                 (k + kPrefetchRows) * stride * sizeof(float) +
                                                                 line * 64));
    };
    if constexpr (!kNative<P>) {  // bf16 widened, two k-rows per element: not unrolled further
        for (int k = 0; k < K; ++k) {
            prefetch(k);
            multiply_add_halves(acc, a, col, stride, k, OddHalf{}, OddHalf{}, EvenHalf{}, EvenHalf{},
                                FusedMultiplyAdd{});
        }
    } else {
#pragma GCC unroll 2
        for (int k = 0; k < K; ++k) {
            prefetch(k);
            if constexpr (kAhead) __builtin_prefetch(reinterpret_cast<const void*>(ahead.from + k * ahead.step), 0, 1);
            if constexpr (P == Precision::fp32) {
                multiply_add_row(acc, a, col, k * stride, k, Identity{}, Identity{}, FusedMultiplyAdd{});
            } else {
                V x[MR];
#pragma GCC unroll 8
                for (int r = 0; r < MR; ++r) x[r] = P == Precision::int8 ? centred(broadcast(a[r][k])) : broadcast(a[r][k]);
#pragma GCC unroll 16
                for (int c = 0; c < NC; ++c) {
                    const V w = load(col[c] + k * stride);
#pragma GCC unroll 8
                    for (int r = 0; r < MR; ++r) {
                        if constexpr (P == Precision::bf16) {
                            acc[r][c] = dot2(acc[r][c], w, x[r]);
                        } else {
                            acc[r][c] = dot4(acc[r][c], w, x[r]);
                        }
                    }
                }
            }
        }
    }
}

// Calls f.template operator()<R>() for the R in [1, RMAX] equal to rest.
template <int RMAX, class F>
inline void with_rows(int rest, const F& f) {
    if constexpr (RMAX >= 1) {
        if (rest == RMAX) {
            f(std::integral_constant<int, RMAX>{});
        } else {
            with_rows<RMAX - 1>(rest, f);
        }
    }
}

// ---- recurrent steps: all G gates of a group of units, for MR rows -------------------
//
//     a(i)            -> const float*, row i's input vector (K = w.K floats)
//     init(i, u, acc) -> writes the G start values of row i, group u into acc[0..G)
//     epi(i, u, acc)  -> consumes the G finished accumulators (the fused epilogue)
//
// A tile covers k in [k0, k1): it starts from init when k0 == 0, else from the partial
// sums saved in `partial` (row i's NU x G vectors: every pass over a group ends before
// the next group starts, so one group's worth per row suffices and stays in L1), and
// ends with the epilogue when k1 == K, else by saving its sums there. A saved float is
// the accumulator itself, so the chain of multiply-adds is the same as in one pass.
//
// With kInput, row i's vector over k is in two pieces: xin[i][0 .. kx) (the step's
// input, when the input projection is folded into the step), then a(i)[0 .. K - kx);
// where the first piece ends, bnd(i, u, acc) sees the G sums of the input part.

struct NoBoundary {
    void operator()(int, int, V*) const {}
};

template <int G, int MR, int NU, bool kGemv = false, bool kInput = false, Precision P = Precision::fp32,
          bool kAhead = false, class A, class Init, class Epi, class Bnd = NoBoundary>
GATEDRNN_TILE void step_tile(int i0, int u0, const PanelView& w, const A& a, const Init& init, const Epi& epi,
                      float* const* partial, int k0, int k1, const float* const* xin = nullptr, int kx = 0,
                      const Bnd& bnd = Bnd{}, Ahead ahead = Ahead{}) {
    V acc[MR][NU * G];
    const float* x[MR];
    const float* col[NU * G];
    for (int r = 0; r < MR; ++r) {
        for (int j = 0; j < NU; ++j) {
            if (k0 == 0) {
                init(i0 + r, u0 + j, &acc[r][j * G]);
            } else {
                for (int g = 0; g < G; ++g) acc[r][j * G + g] = load(partial[i0 + r] + (j * G + g) * kLanes);
            }
        }
    }
    for (int j = 0; j < NU; ++j) {  // group u is sub-block u % kSub of block u / kSub
        const float* sub = w.block((u0 + j) / kSub) + static_cast<ptrdiff_t>((u0 + j) % kSub) * w.K * G * kLanes;
        for (int g = 0; g < G; ++g) col[j * G + g] = sub + static_cast<ptrdiff_t>(k0) * G * kLanes + g * kLanes;
    }
    // Batch 1 (the GEMV): prefetch each group's sub-block stream ahead.
    constexpr int kPrefetch = kGemv ? NU : 0;
    const ptrdiff_t stride = G * kLanes;
    int k = k0;
    if constexpr (kInput) {  // the input's k-rows first
        if (k < kx) {
            const int k_end = std::min(k1, kx);
            for (int r = 0; r < MR; ++r) x[r] = xin[i0 + r] + k;
            accumulate<MR, NU * G, kPrefetch, P, kAhead>(acc, x, col, stride, k_end - k, ahead);
            ahead.from += (k_end - k) * ahead.step;
            for (auto& p : col) p += (k_end - k) * stride;
            k = k_end;
            if (k == kx)
                for (int r = 0; r < MR; ++r)
                    for (int j = 0; j < NU; ++j) bnd(i0 + r, u0 + j, &acc[r][j * G]);
        }
    }
    if (k < k1) {
        for (int r = 0; r < MR; ++r) x[r] = a(i0 + r) + (k - kx);
        accumulate<MR, NU * G, kPrefetch, P, kAhead>(acc, x, col, stride, k1 - k, ahead);
    }
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NU; ++j) {
            if (k1 == w.K) {
                epi(i0 + r, u0 + j, &acc[r][j * G]);
            } else {
                for (int g = 0; g < G; ++g) store(partial[i0 + r] + (j * G + g) * kLanes, acc[r][j * G + g]);
            }
        }
}

// k per pass of a batched step: a group's weights of that k range (at most 256 KiB) stay
// in L2 while every row tile of the batch sweeps them, one contiguous stream per tile.
// Shorter passes would fit L1 but cost more in tile set-up and partial sums than they
// save (AVX2, B = 32-64: 16 KiB passes ~10 % slower at H = 256-512, 64 KiB ~5 % at 1024;
// AVX-512 on Zen 4, B = 64, K = 1024: 128 KiB passes 1-2 % slower than one of 256 KiB).
template <int G>
inline constexpr int kStepKc = std::min(1024, 262144 / (G * kLanes * static_cast<int>(sizeof(float))));

// Bytes of the next pass a lookahead tile prefetches per k-row (a line every 2 k-rows):
// a few tiles ask for a whole pass, and the others run without the prefetch instruction.
// fp32 only (bf16 and int8 stream a half and a quarter of the bytes), and not in the
// portable fallback, where a second set of tiles is not worth its code.
inline constexpr uintptr_t kStepAhead = 32;
#if defined(GATEDRNN_PORTABLE_KERNELS)
template <Precision P>
inline constexpr bool kLookahead = false;
#else
template <Precision P>
inline constexpr bool kLookahead = P == Precision::fp32;
#endif

// Runs f(i, rows) over n rows cut into tiles of at most MR rows whose sizes differ by at
// most one: no lone short tile at the end (a 1-row LSTM tile has too few independent
// chains to keep both FMA units busy).
template <int MR, class F>
inline void for_row_tiles(int n, const F& f) {
    const int tiles = (n + MR - 1) / MR;
    for (int t = 0, i = 0; t < tiles; ++t) {
        const int end = static_cast<int>(static_cast<int64_t>(n) * (t + 1) / tiles);
        f(i, end - i);
        i = end;
    }
}

// s.rows.n rows x blocks [s.blk_begin, s.blk_end) of s.w. With kInput, the first s.kx
// k-rows of s.w multiply s.rows.x, and bnd sees the sums where they end (see step_tile).
template <int G, bool kInput = false, Precision P = Precision::fp32, class A, class Init, class Epi, class Bnd = NoBoundary>
inline void step_loop(const StepArgs& s, const A& a, const Init& init, const Epi& epi, const Bnd& bnd = Bnd{}) {
    const PanelView& w = s.w;
    const int n = s.rows.n, K = w.K;
    float* const* partial = s.rows.partial;
    const float* const* xin = s.rows.x;
    const int kx = kInput ? s.kx : 0;
    const int u_begin = s.blk_begin * kSub, u_end = s.blk_end * kSub;
    // Steps alternate the direction of their sweep over the groups (s.descending): where
    // a thread's weights are larger than its L2, the groups a sweep ends with are still
    // there when the next one starts with them. Each output is computed alike either way.
    if (n == 1) {  // batch 1 is a GEMV: several groups per pass for independent chains
        const int pairs = (u_end - u_begin) / kGemvGroups, u_rest = u_begin + pairs * kGemvGroups;
        const auto multi = [&](int u) {
            step_tile<G, 1, kGemvGroups, true, kInput, P>(0, u, w, a, init, epi, partial, 0, K, xin, kx, bnd);
        };
        const auto single = [&](int u) {
            step_tile<G, 1, 1, true, kInput, P>(0, u, w, a, init, epi, partial, 0, K, xin, kx, bnd);
        };
        if (s.descending) {
            for (int u = u_end - 1; u >= u_rest; --u) single(u);
            for (int p = pairs - 1; p >= 0; --p) multi(u_begin + p * kGemvGroups);
        } else {
            for (int p = 0; p < pairs; ++p) multi(u_begin + p * kGemvGroups);
            for (int u = u_rest; u < u_end; ++u) single(u);
        }
        return;
    }
    constexpr int MR = kStepRows<G, P>;
    const int kc = partial ? kStepKc<G> : K;  // no partial-sum rows: one pass over k
    constexpr uintptr_t kRow = G * kLanes * sizeof(float);  // a k-row of a group's weights
    const auto weights = [&](int u, int k) {  // group u's sub-block is K k-rows, contiguous
        return reinterpret_cast<uintptr_t>(w.block(u / kSub)) + (static_cast<uintptr_t>(u % kSub) * w.K + k) * kRow;
    };
    const int groups = u_end - u_begin;
    const int du = s.descending ? -1 : 1;
    const auto sweep = [&](auto look) {
        constexpr bool kAhead = decltype(look)::value;
        for (int j = 0; j < groups; ++j) {
            const int u = s.descending ? u_end - 1 - j : u_begin + j;
            for (int k0 = 0; k0 < std::max(K, 1); k0 += kc) {
                const int k1 = std::min(K, k0 + kc);
                // Lookahead: the next pass is this group's next k range, or the next group's
                // first; the first row tiles prefetch it, kStepAhead bytes per k-row each,
                // until all of it is asked for.
                uintptr_t next = 0, asked = 0, bytes = 0;
                const uintptr_t per_tile = static_cast<uintptr_t>(k1 - k0) * kStepAhead;
                if constexpr (kAhead) {
                    const bool last = k1 == K && j + 1 == groups;
                    next = k1 < K ? weights(u, k1) : weights(last ? u : u + du, 0);
                    bytes = last ? 0 : std::min(K - (k1 < K ? k1 : 0), kc) * kRow;
                }
                for_row_tiles<MR>(n, [&](int i, int rows) {
                    with_rows<MR>(rows, [&](auto r) {
                        constexpr int R = decltype(r)::value;
                        if (kAhead && asked < bytes) {
                            step_tile<G, R, 1, false, kInput, P, kAhead>(i, u, w, a, init, epi, partial, k0, k1, xin,
                                                                         kx, bnd, Ahead{next + asked, kStepAhead});
                            asked += per_tile;
                        } else {
                            step_tile<G, R, 1, false, kInput, P>(i, u, w, a, init, epi, partial, k0, k1, xin, kx, bnd);
                        }
                    });
                });
            }
        }
    };
    if constexpr (kLookahead<P>) {
        if (s.lookahead) return sweep(std::true_type{});
    }
    sweep(std::false_type{});
}

// Store the first `valid` lanes of a vector into caller memory (y rows are not padded).
inline void store_valid(float* p, V v, int valid) {
    if (valid >= kLanes) {
        store(p, v);
    } else if (valid > 0) {
        store_n(p, v, valid);
    }
}

// Writes v (kLanes units from unit `at`) as bf16 pairs to an operand row, in bf16 kernels
// (int8 operands are quantised by the driver, from whole rows).
template <Precision P>
inline void store_operand(float* row, int at, V v) {
    if constexpr (P == Precision::bf16) store_bf16(row + at / 2, v);
}

// The start of a sum: in int8, the panel's int32 start value (comp) of output (u, g), or 0
// where dot4 takes the operands centred; otherwise `start`, the bias or projected input.
template <Precision P>
inline V sum_start(const PanelView& w, int u, int g, V start) {
    if constexpr (P == Precision::int8) return kInt8Centred ? zero() : load(w.comp + gate_offset(u, g, w.G));
    return start;
}
// A finished sum as an fp32 pre-activation: in int8, start + float(sum) * a_scale *
// w_scale (a multiply and an add, the same on every ISA); otherwise the sum itself.
template <Precision P>
inline V pre_activation(const PanelView& w, int u, int g, V sum, float a_scale, V start) {
    if constexpr (P == Precision::int8)
        return add(mul(int_to_float(sum), mul(broadcast(a_scale), load(w.scale + gate_offset(u, g, w.G)))), start);
    return sum;
}

// Step kernels are templates on whether CellOptions are given: kernel<true> with options,
// kernel<false> (PyTorch's cell, no option tested in the epilogue) without; and on the
// precision of their panels and operands.
#define GATEDRNN_WITH_OPTIONS(kernel, precision, s) \
    do {                                            \
        if ((s).options) {                          \
            kernel<true, precision>(s);             \
        } else {                                    \
            kernel<false, precision>(s);            \
        }                                           \
    } while (0)
