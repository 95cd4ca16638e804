// Portable primitives over 8 floats (half a panel block), compiled for baseline x86-64 or
// any other CPU. Written with GCC/Clang vector extensions (two 4-float vectors), which
// become SSE2 on x86-64, NEON on ARM, or plain scalar code elsewhere. fmadd is a multiply
// then an add: baseline x86-64 has no FMA.
#pragma once

#include <cstdint>
#include <cstring>

namespace gatedrnn::scalar {

typedef float f4 __attribute__((vector_size(16)));
typedef int32_t i4 __attribute__((vector_size(16)));

struct V {
    f4 lo, hi;
};

// Lanes per vector and register blocking of generic/tile.h. Eight lanes keep an LSTM
// group's four accumulators within 8 of the 16 SSE registers of baseline x86-64.
inline constexpr int kLanes = 8;
template <int G>
inline constexpr int kStepRows = G >= 3 ? 1 : (G == 2 ? 2 : 4);
inline constexpr int kGemvGroups = 1;
template <int G>
inline constexpr int kGemmRows = 4;
template <int G>
inline constexpr int kGemmCols = 1;

inline V zero() { return {f4{}, f4{}}; }
inline V broadcast(float x) { return {f4{x, x, x, x}, f4{x, x, x, x}}; }
inline V load(const float* p) {
    V r;
    std::memcpy(&r.lo, p, 16);
    std::memcpy(&r.hi, p + 4, 16);
    return r;
}
inline void store(float* p, V a) {
    std::memcpy(p, &a.lo, 16);
    std::memcpy(p + 4, &a.hi, 16);
}
// First n lanes (1 <= n <= 8); the others are not touched / read as zero.
inline void store_n(float* p, V a, int n) {
    float t[8];
    store(t, a);
    std::memcpy(p, t, static_cast<size_t>(n) * sizeof(float));
}
inline V load_n(const float* p, int n) {
    float t[8] = {};
    std::memcpy(t, p, static_cast<size_t>(n) * sizeof(float));
    return load(t);
}

inline V fmadd(V a, V b, V c) { return {a.lo * b.lo + c.lo, a.hi * b.hi + c.hi}; }
inline V add(V a, V b) { return {a.lo + b.lo, a.hi + b.hi}; }
inline V sub(V a, V b) { return {a.lo - b.lo, a.hi - b.hi}; }
inline V mul(V a, V b) { return {a.lo * b.lo, a.hi * b.hi}; }
inline V div(V a, V b) { return {a.lo / b.lo, a.hi / b.hi}; }
// x86 semantics: a > b ? a : b, so a NaN in b passes through.
inline V max(V a, V b) { return {a.lo > b.lo ? a.lo : b.lo, a.hi > b.hi ? a.hi : b.hi}; }

inline f4 bits_or(f4 a, i4 m) { return (f4)((i4)a | m); }
inline constexpr int32_t kSign = INT32_MIN;

// -|x| (sets the sign bit; NaN stays NaN).
inline V neg_abs(V x) {
    const i4 s = {kSign, kSign, kSign, kSign};
    return {bits_or(x.lo, s), bits_or(x.hi, s)};
}
// r (non-negative) with the sign bit of x.
inline V with_sign_of(V r, V x) {
    const i4 s = {kSign, kSign, kSign, kSign};
    return {bits_or(r.lo, (i4)x.lo & s), bits_or(r.hi, (i4)x.hi & s)};
}
// Lanes where x's sign bit is set take a, the others b.
inline V select_negative(V x, V a, V b) {
    return {(i4)x.lo < 0 ? a.lo : b.lo, (i4)x.hi < 0 ? a.hi : b.hi};
}
// v, with 0 in the lanes where z < threshold (false for NaN).
inline V zero_where_less(V z, float threshold, V v) {
    const f4 t = {threshold, threshold, threshold, threshold};
    const f4 o = {};
    return {z.lo < t ? o : v.lo, z.hi < t ? o : v.hi};
}
// The bits of x, as integers shifted left by 23 (builds 2^n from a biased exponent).
inline V shift_bits_left_23(V x) { return {(f4)((i4)x.lo << 23), (f4)((i4)x.hi << 23)}; }

}  // namespace gatedrnn::scalar
