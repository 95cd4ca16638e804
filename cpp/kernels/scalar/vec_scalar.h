// Portable primitives over 8 floats (half a panel block): a plain array, compiled for baseline
// x86-64 (or any CPU). fmadd is a multiply then an add: baseline x86-64 has no FMA.
#pragma once

#include <cstdint>
#include <cstring>

namespace gatedrnn::scalar {

struct V {
    float v[8];
};

// Lanes per vector and register blocking of generic/tile.h. Eight lanes keep an LSTM
// group's four accumulators within the 16 SSE registers of baseline x86-64, where the
// compiler vectorises the lane loops (8 accumulator registers per tile at most).
inline constexpr int kLanes = 8;
template <int G>
inline constexpr int kStepRows = G >= 3 ? 1 : (G == 2 ? 2 : 4);
inline constexpr int kGemvGroups = 1;
template <int G>
inline constexpr int kGemmRows = 4;
template <int G>
inline constexpr int kGemmCols = 1;

#define GATEDRNN_LANES for (int l = 0; l < kLanes; ++l)

inline V zero() { V r; GATEDRNN_LANES r.v[l] = 0.0f; return r; }
inline V broadcast(float x) { V r; GATEDRNN_LANES r.v[l] = x; return r; }
inline V load(const float* p) { V r; GATEDRNN_LANES r.v[l] = p[l]; return r; }
inline void store(float* p, V a) { GATEDRNN_LANES p[l] = a.v[l]; }
inline void store_n(float* p, V a, int n) { for (int l = 0; l < n; ++l) p[l] = a.v[l]; }
inline V load_n(const float* p, int n) {
    V r = zero();
    for (int l = 0; l < n; ++l) r.v[l] = p[l];
    return r;
}

inline V fmadd(V a, V b, V c) { V r; GATEDRNN_LANES r.v[l] = a.v[l] * b.v[l] + c.v[l]; return r; }
inline V add(V a, V b) { V r; GATEDRNN_LANES r.v[l] = a.v[l] + b.v[l]; return r; }
inline V sub(V a, V b) { V r; GATEDRNN_LANES r.v[l] = a.v[l] - b.v[l]; return r; }
inline V mul(V a, V b) { V r; GATEDRNN_LANES r.v[l] = a.v[l] * b.v[l]; return r; }
inline V div(V a, V b) { V r; GATEDRNN_LANES r.v[l] = a.v[l] / b.v[l]; return r; }
// x86 semantics: a > b ? a : b, so a NaN in b passes through.
inline V max(V a, V b) { V r; GATEDRNN_LANES r.v[l] = a.v[l] > b.v[l] ? a.v[l] : b.v[l]; return r; }

inline uint32_t bits(float x) { uint32_t u; std::memcpy(&u, &x, 4); return u; }
inline float from_bits(uint32_t u) { float x; std::memcpy(&x, &u, 4); return x; }

inline V neg_abs(V x) { V r; GATEDRNN_LANES r.v[l] = from_bits(bits(x.v[l]) | 0x80000000u); return r; }
inline V with_sign_of(V a, V x) {
    V r;
    GATEDRNN_LANES r.v[l] = from_bits(bits(a.v[l]) | (bits(x.v[l]) & 0x80000000u));
    return r;
}
inline V select_negative(V x, V a, V b) {
    V r;
    GATEDRNN_LANES r.v[l] = (bits(x.v[l]) & 0x80000000u) ? a.v[l] : b.v[l];
    return r;
}
inline V zero_where_less(V z, float threshold, V v) {
    V r;
    GATEDRNN_LANES r.v[l] = z.v[l] < threshold ? 0.0f : v.v[l];
    return r;
}
inline V shift_bits_left_23(V x) { V r; GATEDRNN_LANES r.v[l] = from_bits(bits(x.v[l]) << 23); return r; }

#undef GATEDRNN_LANES

}  // namespace gatedrnn::scalar
