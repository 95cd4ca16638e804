// AVX-512 (F, CD, BW, DQ, VL) primitives over one 16-float block: one zmm register.
// Only cpp/kernels/avx512/ includes this file; it is compiled with the AVX-512 flags.
#pragma once

#if defined(GATEDRNN_EMULATE_AVX512)  // testing aid: the intrinsics in portable C++
#include <cmath>
#include <cstdlib>
#include <cstring>
#else
#include <immintrin.h>
#endif

#include <cstdint>

#include "gatedrnn/kernels.h"  // Precision

// Compiled twice: as gatedrnn::avx512, and with -mavx512bf16 -mavx512vnni as
// gatedrnn::avx512_bf16_vnni, whose bf16 and int8 kernels use vdpbf16ps and vpdpbusd
// (kernels_avx512_bf16_vnni.cpp).
// (Chosen by GATEDRNN_AVX512_DOT, which that file defines, not by the compiler's own
// feature macros: a -march=native build gives every file those.)
#if defined(GATEDRNN_AVX512_DOT)
#if !defined(GATEDRNN_EMULATE_AVX512) && (!defined(__AVX512BF16__) || !defined(__AVX512VNNI__))
#error "kernels_avx512_bf16_vnni.cpp needs -mavx512bf16 -mavx512vnni"
#endif
namespace gatedrnn::avx512_bf16_vnni {
#else
namespace gatedrnn::avx512 {
#endif

#if defined(GATEDRNN_EMULATE_AVX512)
#include "emulated_avx512.h"
#endif

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

// ---- bfloat16 pairs (kernels.h): 32-bit elements holding two bf16, 2k' low -----------
inline V odd_half(V p) {
    return {_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(p.v), _mm512_set1_epi32(-65536)))};
}
inline V even_half(V p) { return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(p.v), 16))}; }
#if defined(GATEDRNN_AVX512_DOT)
inline constexpr bool kNativeBf16 = true;
inline constexpr const char* kBf16Method = "vdpbf16ps";
// acc + w_odd * x_odd + w_even * x_even, rounded after each add (tile.h).
inline V dot2(V acc, V w, V x) {
    return {_mm512_dpbf16_ps(acc.v, (__m512bh)_mm512_castps_si512(w.v), (__m512bh)_mm512_castps_si512(x.v))};
}
#else
inline constexpr bool kNativeBf16 = false;  // widened to fp32 (tile.h)
inline constexpr const char* kBf16Method = "widened to fp32";
#endif
// Each lane rounded to bf16 as vcvtneps2bf16 does (nearest even; zero and denormals to a
// signed zero; NaN quietened), in the low 16 bits of its 32. Written out in integer
// operations on every AVX-512 CPU, so both kernel sets round identically.
inline __m512i bf16_lanes(V v) {
    const __m512i b = _mm512_castps_si512(v.v);
    const __m512i high = _mm512_srli_epi32(b, 16);
    const __m512i bias = _mm512_add_epi32(_mm512_and_si512(high, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7FFF));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(b, bias), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v.v, v.v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, high, _mm512_set1_epi32(0x40));
    const __mmask16 tiny = _mm512_testn_epi32_mask(b, _mm512_set1_epi32(0x7F800000));
    return _mm512_mask_and_epi32(r, tiny, high, _mm512_set1_epi32(0x8000));
}
// The 16 lanes as 8 bf16 pairs at p.
inline void store_bf16(float* p, V v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(bf16_lanes(v)));
}

// ---- int8 quads (kernels.h): 32-bit elements holding four bytes, 4k' lowest ------------
inline __m512i bits(V v) { return _mm512_castps_si512(v.v); }
inline V from_bits(__m512i i) { return {_mm512_castsi512_ps(i)}; }
#if defined(GATEDRNN_AVX512_DOT)
inline constexpr bool kInt8Centred = false;
inline constexpr const char* kInt8Method = "vpdpbusd";
inline V centred(V x) { return x; }
// acc + the four u8 (x) * s8 (w) products of each lane, in int32 (exact).
inline V dot4(V acc, V w, V x) { return from_bits(_mm512_dpbusd_epi32(bits(acc), bits(x), bits(w))); }
#else
inline constexpr bool kInt8Centred = true;
inline constexpr const char* kInt8Method = "vpmaddubsw + vpmaddwd";
// An operand quad's bytes u8 = q + 128 as the signed q (a broadcast: once per row and k).
inline V centred(V x) { return from_bits(_mm512_xor_si512(bits(x), _mm512_set1_epi8(static_cast<char>(0x80)))); }
// acc + the four q (x, centred) * w products of each lane, in int32 (exact): vpmaddubsw
// multiplies |w| (unsigned) by q negated where w < 0; |q|, |w| <= 127, so each pair's
// sum (<= 32258) does not saturate; vpmaddwd by ones adds the two pairs.
inline V dot4(V acc, V w, V x) {
    const __m512i signed_x = _mm512_mask_sub_epi8(bits(x), _mm512_movepi8_mask(bits(w)), _mm512_setzero_si512(), bits(x));
    const __m512i pairs = _mm512_maddubs_epi16(_mm512_abs_epi8(bits(w)), signed_x);
    return from_bits(_mm512_add_epi32(bits(acc), _mm512_madd_epi16(pairs, _mm512_set1_epi16(1))));
}
#endif
inline V int_to_float(V acc) { return {_mm512_cvtepi32_ps(bits(acc))}; }
// round(x) to nearest even, clamped to [-127, 127], + 128: stored as kLanes bytes at p.
inline void store_u8(float* p, V x) {
    const __m512i r = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(x.v, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f)));
    const __m512i q = _mm512_add_epi32(r, _mm512_set1_epi32(128));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(q));
}

#if defined(GATEDRNN_AVX512_DOT)
}  // namespace gatedrnn::avx512_bf16_vnni
#else
}  // namespace gatedrnn::avx512
#endif
