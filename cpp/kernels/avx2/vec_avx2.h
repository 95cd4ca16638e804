// AVX2 + FMA primitives over one ymm register: 8 lanes, half of a 16-unit panel block.
// Only cpp/kernels/avx2/ includes this file; it is compiled with -mavx2 -mfma.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "gatedrnn/kernels.h"  // Precision

namespace gatedrnn::avx2 {

struct V {
    __m256 v;
};

// Lanes per vector, and register blocking of generic/tile.h (16 ymm registers):
// a step tile is kStepRows<G> rows x G gates x 8 units (LSTM: 3 x 4 accumulators);
// at batch 1, kGemvGroups groups of 8 units per pass; the input-projection GEMM tile is
// kGemmRows rows x kGemmCols vectors of one panel row (6 x 16 floats, 12 accumulators).
// int8 takes a row fewer in steps and two in the GEMM: its dot4 holds |w|, a product
// and the ones of vpmaddwd in registers as well.
inline constexpr int kLanes = 8;
template <int G, Precision P = Precision::fp32>
inline constexpr int kStepRows = (G >= 4 ? 3 : (G == 3 ? 4 : (G == 2 ? 5 : 6))) - (P == Precision::int8 ? 1 : 0);
inline constexpr int kGemvGroups = 2;
template <int G, Precision P = Precision::fp32>
inline constexpr int kGemmRows = P == Precision::int8 ? 4 : 6;
template <int G>
inline constexpr int kGemmCols = 2;

inline V zero() { return {_mm256_setzero_ps()}; }
inline V broadcast(float x) { return {_mm256_set1_ps(x)}; }
inline V load(const float* p) { return {_mm256_loadu_ps(p)}; }
inline void store(float* p, V a) { _mm256_storeu_ps(p, a.v); }

inline __m256i lane_mask(int n) {  // lanes < n set
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}
// First n lanes (1 <= n <= 8); the others are not touched / read as zero.
inline void store_n(float* p, V a, int n) { _mm256_maskstore_ps(p, lane_mask(n), a.v); }
inline V load_n(const float* p, int n) { return {_mm256_maskload_ps(p, lane_mask(n))}; }

inline V fmadd(V a, V b, V c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline V add(V a, V b) { return {_mm256_add_ps(a.v, b.v)}; }
inline V sub(V a, V b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline V mul(V a, V b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline V div(V a, V b) { return {_mm256_div_ps(a.v, b.v)}; }
// x86 semantics: a > b ? a : b, so a NaN in b passes through.
inline V max(V a, V b) { return {_mm256_max_ps(a.v, b.v)}; }
inline V min(V a, V b) { return {_mm256_min_ps(a.v, b.v)}; }

// -|x| (sets the sign bit; NaN stays NaN).
inline V neg_abs(V x) { return {_mm256_or_ps(x.v, _mm256_set1_ps(-0.0f))}; }
// r (non-negative) with the sign bit of x.
inline V with_sign_of(V r, V x) { return {_mm256_or_ps(r.v, _mm256_and_ps(x.v, _mm256_set1_ps(-0.0f)))}; }
// Lanes where x's sign bit is set take a, the others b.
inline V select_negative(V x, V a, V b) { return {_mm256_blendv_ps(b.v, a.v, x.v)}; }
// v, with 0 in the lanes where z < threshold (false for NaN).
inline V zero_where_less(V z, float threshold, V v) {
    return {_mm256_andnot_ps(_mm256_cmp_ps(z.v, _mm256_set1_ps(threshold), _CMP_LT_OQ), v.v)};
}
// The bits of x, as integers shifted left by 23 (builds 2^n from a biased exponent).
inline V shift_bits_left_23(V x) {
    return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(x.v), 23))};
}

// ---- bfloat16 pairs (kernels.h): 32-bit elements holding two bf16, 2k' low -----------
inline constexpr bool kNativeBf16 = false;  // widened to fp32 (tile.h)
inline constexpr const char* kBf16Method = "widened to fp32";
// Two shifts rather than an and: a mask constant would take the 16th ymm register of the
// LSTM tile (3 x 4 accumulators, 3 operands, 1 weight vector) and spill it.
inline V odd_half(V p) {
    return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(_mm256_castps_si256(p.v), 16), 16))};
}
inline V even_half(V p) { return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(p.v), 16))}; }
// Each lane rounded to bf16 as vcvtneps2bf16 does (nearest even; zero and denormals to a
// signed zero; NaN quietened), in the low 16 bits of its 32.
inline __m256i bf16_lanes(V v) {
    const __m256i b = _mm256_castps_si256(v.v);
    const __m256i high = _mm256_srli_epi32(b, 16);
    const __m256i bias = _mm256_add_epi32(_mm256_and_si256(high, _mm256_set1_epi32(1)), _mm256_set1_epi32(0x7FFF));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(b, bias), 16);
    const __m256i quiet = _mm256_or_si256(high, _mm256_set1_epi32(0x40));
    r = _mm256_blendv_epi8(r, quiet, _mm256_castps_si256(_mm256_cmp_ps(v.v, v.v, _CMP_UNORD_Q)));
    const __m256i tiny = _mm256_cmpeq_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7F800000)), _mm256_setzero_si256());
    return _mm256_blendv_epi8(r, _mm256_and_si256(high, _mm256_set1_epi32(0x8000)), tiny);
}
// The 8 lanes as 4 bf16 pairs at p.
inline void store_bf16(float* p, V v) {
    const __m256i r = bf16_lanes(v);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
}

// ---- int8 quads (kernels.h): 32-bit elements holding four bytes, 4k' lowest ------------
inline constexpr bool kInt8Centred = true;
inline constexpr const char* kInt8Method = "vpmaddubsw + vpmaddwd";
inline __m256i bits(V v) { return _mm256_castps_si256(v.v); }
inline V from_bits(__m256i i) { return {_mm256_castsi256_ps(i)}; }
// An operand quad's bytes u8 = q + 128 as the signed q (a broadcast: once per row and k).
inline V centred(V x) { return from_bits(_mm256_xor_si256(bits(x), _mm256_set1_epi8(static_cast<char>(0x80)))); }
// acc + the four q (x, centred) * w products of each lane, in int32 (exact): vpmaddubsw
// multiplies |w| (unsigned) by q with w's sign, |q|, |w| <= 127, so each pair's sum
// (<= 32258) does not saturate; vpmaddwd by ones adds the two pairs. abs(w) is the same
// for every row of a tile (the compiler computes it once).
inline V dot4(V acc, V w, V x) {
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(bits(w)), _mm256_sign_epi8(bits(x), bits(w)));
    return from_bits(_mm256_add_epi32(bits(acc), _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))));
}
inline V int_to_float(V acc) { return {_mm256_cvtepi32_ps(bits(acc))}; }
// round(x) to nearest even, clamped to [-127, 127], + 128: stored as kLanes bytes at p.
inline void store_u8(float* p, V x) {
    const __m256 clamped = _mm256_min_ps(_mm256_max_ps(x.v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(clamped), _mm256_set1_epi32(128));
    const __m256i w16 = _mm256_packus_epi32(q, q);     // per 128-bit half: q0-3 q0-3 | q4-7 q4-7
    const __m256i b8 = _mm256_packus_epi16(w16, w16);  // bytes: q0-3 x4 | q4-7 x4
    const __m256i both = _mm256_permutevar8x32_epi32(b8, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(both));
}

}  // namespace gatedrnn::avx2
