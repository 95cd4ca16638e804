// AVX2 + FMA primitives over one 16-float block: two ymm registers (lanes 0-7, 8-15).
// Only cpp/kernels/avx2/ includes this file; it is compiled with -mavx2 -mfma.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace gatedrnn::avx2 {

struct V {
    __m256 lo, hi;
};

// Register blocking of the tile loop (generic/tile.h): rows per tile for G gates, and
// blocks per pass when there is a single row. 16 ymm: LSTM keeps 8 accumulators.
template <int G>
inline constexpr int kTileRows = G >= 4 ? 1 : (G == 3 ? 2 : (G == 2 ? 3 : 6));
inline constexpr int kGemvBlocks = 1;

inline V zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline V broadcast(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
inline V load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
inline void store(float* p, V a) {
    _mm256_storeu_ps(p, a.lo);
    _mm256_storeu_ps(p + 8, a.hi);
}

inline __m256i lane_mask(int n) {  // lanes < n set, n may be < 0 or > 8
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}
// First n lanes (1 <= n <= 16); the others are not touched / read as zero.
inline void store_n(float* p, V a, int n) {
    _mm256_maskstore_ps(p, lane_mask(n), a.lo);
    _mm256_maskstore_ps(p + 8, lane_mask(n - 8), a.hi);
}
inline V load_n(const float* p, int n) {
    return {_mm256_maskload_ps(p, lane_mask(n)), _mm256_maskload_ps(p + 8, lane_mask(n - 8))};
}

inline V fmadd(V a, V b, V c) {
    return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
inline V add(V a, V b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
inline V sub(V a, V b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
inline V mul(V a, V b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
inline V div(V a, V b) { return {_mm256_div_ps(a.lo, b.lo), _mm256_div_ps(a.hi, b.hi)}; }
// x86 semantics: a > b ? a : b, so a NaN in b passes through.
inline V max(V a, V b) { return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }

// -|x| (sets the sign bit; NaN stays NaN).
inline V neg_abs(V x) {
    const __m256 s = _mm256_set1_ps(-0.0f);
    return {_mm256_or_ps(x.lo, s), _mm256_or_ps(x.hi, s)};
}
// |r| with the sign bit of x (r must be non-negative).
inline V with_sign_of(V r, V x) {
    const __m256 s = _mm256_set1_ps(-0.0f);
    return {_mm256_or_ps(r.lo, _mm256_and_ps(x.lo, s)), _mm256_or_ps(r.hi, _mm256_and_ps(x.hi, s))};
}
// Lanes where x's sign bit is set take a, the others b.
inline V select_negative(V x, V a, V b) {
    return {_mm256_blendv_ps(b.lo, a.lo, x.lo), _mm256_blendv_ps(b.hi, a.hi, x.hi)};
}
// v, with 0 in the lanes where z < threshold (false for NaN).
inline V zero_where_less(V z, float threshold, V v) {
    const __m256 t = _mm256_set1_ps(threshold);
    return {_mm256_andnot_ps(_mm256_cmp_ps(z.lo, t, _CMP_LT_OQ), v.lo),
            _mm256_andnot_ps(_mm256_cmp_ps(z.hi, t, _CMP_LT_OQ), v.hi)};
}
// The bits of x, as integers shifted left by 23 (builds 2^n from a biased exponent).
inline V shift_bits_left_23(V x) {
    return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(x.lo), 23)),
            _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(x.hi), 23))};
}

}  // namespace gatedrnn::avx2
