// AVX-512 (F, CD, BW, DQ, VL) primitives over one 16-float block: one zmm register.
// Only cpp/kernels/avx512/ includes this file; it is compiled with the AVX-512 flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace gatedrnn::avx512 {

struct V {
    __m512 v;
};

#include "tiles_avx512.h"  // kLanes and the tile shapes

inline V zero() { return {_mm512_setzero_ps()}; }
inline V broadcast(float x) { return {_mm512_set1_ps(x)}; }
inline V load(const float* p) { return {_mm512_loadu_ps(p)}; }
inline void store(float* p, V a) { _mm512_storeu_ps(p, a.v); }

inline __mmask16 lane_mask(int n) {  // 1 <= n <= 16
    return static_cast<__mmask16>((1u << n) - 1u);
}
inline void store_n(float* p, V a, int n) { _mm512_mask_storeu_ps(p, lane_mask(n), a.v); }
inline V load_n(const float* p, int n) { return {_mm512_maskz_loadu_ps(lane_mask(n), p)}; }

inline V fmadd(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline V add(V a, V b) { return {_mm512_add_ps(a.v, b.v)}; }
inline V sub(V a, V b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline V mul(V a, V b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline V div(V a, V b) { return {_mm512_div_ps(a.v, b.v)}; }
// x86 semantics: a > b ? a : b, so a NaN in b passes through.
inline V max(V a, V b) { return {_mm512_max_ps(a.v, b.v)}; }
inline V min(V a, V b) { return {_mm512_min_ps(a.v, b.v)}; }

inline V neg_abs(V x) {
    return {_mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(x.v), _mm512_set1_epi32(INT32_MIN)))};
}
inline V with_sign_of(V r, V x) {
    const __m512i s = _mm512_set1_epi32(INT32_MIN);
    return {_mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(r.v), _mm512_and_si512(_mm512_castps_si512(x.v), s)))};
}
inline V select_negative(V x, V a, V b) {
    const __mmask16 neg = _mm512_movepi32_mask(_mm512_castps_si512(x.v));
    return {_mm512_mask_blend_ps(neg, b.v, a.v)};
}
inline V zero_where_less(V z, float threshold, V v) {
    const __mmask16 lt = _mm512_cmp_ps_mask(z.v, _mm512_set1_ps(threshold), _CMP_LT_OQ);
    return {_mm512_maskz_mov_ps(static_cast<__mmask16>(~lt), v.v)};
}
inline V shift_bits_left_23(V x) {
    return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(x.v), 23))};
}

}  // namespace gatedrnn::avx512
