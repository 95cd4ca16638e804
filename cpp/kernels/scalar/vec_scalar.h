// Portable primitives over 8 floats (half a panel block), compiled for baseline x86-64 or
// any other CPU. Written with GCC/Clang vector extensions (4-float vectors), which
// become SSE2 on x86-64, NEON on ARM, or plain scalar code elsewhere. fmadd is a multiply
// then an add: baseline x86-64 has no FMA.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "gatedrnn/kernels.h"  // Precision

namespace gatedrnn::scalar {

typedef float f4 __attribute__((vector_size(16)));
typedef int32_t i4 __attribute__((vector_size(16)));
typedef uint32_t u4 __attribute__((vector_size(16)));

// Lanes per vector and register blocking of generic/tile.h. Eight lanes keep an LSTM
// group's four accumulators within 8 of the 16 SSE registers of baseline x86-64.
// GATEDRNN_SCALAR_AS_AVX512 (CMake option, for development on CPUs without AVX-512)
// instead gives this file the AVX-512 kernels' lanes and tiles, so the generic
// algorithms run here exactly as they are blocked for AVX-512.
#if defined(GATEDRNN_SCALAR_AS_AVX512)
#include "../avx512/tiles_avx512.h"
#else
inline constexpr int kLanes = 8;
template <int G, Precision P = Precision::fp32>
inline constexpr int kStepRows = G >= 3 ? 1 : (G == 2 ? 2 : 4);
inline constexpr int kGemvGroups = 1;
template <int G, Precision P = Precision::fp32>
inline constexpr int kGemmRows = 4;
template <int G>
inline constexpr int kGemmCols = 1;
#endif

inline constexpr int kQuads = kLanes / 4;

struct V {
    f4 q[kQuads];
};

#define GATEDRNN_QUADS for (int j = 0; j < kQuads; ++j)

inline V zero() { V r; GATEDRNN_QUADS r.q[j] = f4{}; return r; }
inline V broadcast(float x) { V r; GATEDRNN_QUADS r.q[j] = f4{x, x, x, x}; return r; }
inline V load(const float* p) { V r; std::memcpy(&r.q, p, sizeof r.q); return r; }
inline void store(float* p, V a) { std::memcpy(p, &a.q, sizeof a.q); }
// First n lanes (1 <= n <= kLanes); the others are not touched / read as zero.
inline void store_n(float* p, V a, int n) { std::memcpy(p, &a.q, static_cast<size_t>(n) * sizeof(float)); }
inline V load_n(const float* p, int n) {
    V r = zero();
    std::memcpy(&r.q, p, static_cast<size_t>(n) * sizeof(float));
    return r;
}

inline V fmadd(V a, V b, V c) { V r; GATEDRNN_QUADS r.q[j] = a.q[j] * b.q[j] + c.q[j]; return r; }
inline V add(V a, V b) { V r; GATEDRNN_QUADS r.q[j] = a.q[j] + b.q[j]; return r; }
inline V sub(V a, V b) { V r; GATEDRNN_QUADS r.q[j] = a.q[j] - b.q[j]; return r; }
inline V mul(V a, V b) { V r; GATEDRNN_QUADS r.q[j] = a.q[j] * b.q[j]; return r; }
inline V div(V a, V b) { V r; GATEDRNN_QUADS r.q[j] = a.q[j] / b.q[j]; return r; }
// x86 semantics: a > b ? a : b, so a NaN in b passes through.
inline V max(V a, V b) { V r; GATEDRNN_QUADS r.q[j] = a.q[j] > b.q[j] ? a.q[j] : b.q[j]; return r; }
inline V min(V a, V b) { V r; GATEDRNN_QUADS r.q[j] = a.q[j] < b.q[j] ? a.q[j] : b.q[j]; return r; }

inline constexpr i4 kSign = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN};

// -|x| (sets the sign bit; NaN stays NaN).
inline V neg_abs(V x) { V r; GATEDRNN_QUADS r.q[j] = (f4)((i4)x.q[j] | kSign); return r; }
// r (non-negative) with the sign bit of x.
inline V with_sign_of(V a, V x) {
    V r;
    GATEDRNN_QUADS r.q[j] = (f4)((i4)a.q[j] | ((i4)x.q[j] & kSign));
    return r;
}
// Lanes where x's sign bit is set take a, the others b.
inline V select_negative(V x, V a, V b) { V r; GATEDRNN_QUADS r.q[j] = (i4)x.q[j] < 0 ? a.q[j] : b.q[j]; return r; }
// v, with 0 in the lanes where z < threshold (false for NaN).
inline V zero_where_less(V z, float threshold, V v) {
    const f4 t = {threshold, threshold, threshold, threshold};
    V r;
    GATEDRNN_QUADS r.q[j] = z.q[j] < t ? f4{} : v.q[j];
    return r;
}
// The bits of x, as integers shifted left by 23 (builds 2^n from a biased exponent).
inline V shift_bits_left_23(V x) { V r; GATEDRNN_QUADS r.q[j] = (f4)((i4)x.q[j] << 23); return r; }

// ---- bfloat16 pairs (kernels.h): 32-bit elements holding two bf16, 2k' low -----------
inline V odd_half(V p) {
    const i4 mask = {-65536, -65536, -65536, -65536};
    V r;
    GATEDRNN_QUADS r.q[j] = (f4)((i4)p.q[j] & mask);
    return r;
}
inline V even_half(V p) { V r; GATEDRNN_QUADS r.q[j] = (f4)((u4)p.q[j] << 16); return r; }
#if defined(GATEDRNN_SCALAR_AS_AVX512)
// Stands in for the AVX512_BF16 kernels too: their blocking, with vdpbf16ps as two
// multiply-adds of exact products (the same roundings).
inline constexpr bool kNativeBf16 = true;
inline constexpr const char* kBf16Method = "vdpbf16ps, emulated (GATEDRNN_SCALAR_AS_AVX512)";
inline V dot2(V acc, V w, V x) {
    V r;
    GATEDRNN_QUADS r.q[j] = (f4)((i4)w.q[j] & -65536) * (f4)((i4)x.q[j] & -65536) + acc.q[j];
    GATEDRNN_QUADS r.q[j] = (f4)((u4)w.q[j] << 16) * (f4)((u4)x.q[j] << 16) + r.q[j];
    return r;
}
#else
inline constexpr bool kNativeBf16 = false;  // widened to fp32 (tile.h)
inline constexpr const char* kBf16Method = "widened to fp32";
#endif
// One float rounded to bf16 as vcvtneps2bf16 does (nearest even; zero and denormals to a
// signed zero; NaN quietened).
inline uint32_t bf16_bits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    if ((b & 0x7F800000u) == 0) return (b >> 16) & 0x8000u;
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (b >> 16) | 0x40u;
    return (b + 0x7FFFu + ((b >> 16) & 1u)) >> 16;
}
// The kLanes lanes as kLanes / 2 bf16 pairs at p.
inline void store_bf16(float* p, V v) {
    float x[kLanes];
    std::memcpy(x, &v.q, sizeof x);
    for (int k = 0; k < kLanes / 2; ++k) {
        const uint32_t pair = bf16_bits(x[2 * k]) | bf16_bits(x[2 * k + 1]) << 16;
        std::memcpy(p + k, &pair, sizeof pair);
    }
}

// ---- int8 quads (kernels.h): 32-bit elements holding four bytes, 4k' lowest ------------
// The portable kernels add the four products of each lane directly (exact in int32).
inline constexpr bool kInt8Centred = false;
inline constexpr const char* kInt8Method = "int32 sums of the four products (portable)";
inline V centred(V x) { return x; }
inline V dot4(V acc, V w, V x) {
    V r;
    GATEDRNN_QUADS {
        const i4 wi = (i4)w.q[j], xi = (i4)x.q[j];
        i4 sum = (i4)acc.q[j];
        for (int b = 0; b < 4; ++b) sum += ((xi >> (8 * b)) & 0xFF) * ((i4)((u4)wi << (24 - 8 * b)) >> 24);
        r.q[j] = (f4)sum;
    }
    return r;
}
inline V int_to_float(V acc) { V r; GATEDRNN_QUADS r.q[j] = __builtin_convertvector((i4)acc.q[j], f4); return r; }
// round(x) to nearest even, clamped to [-127, 127], + 128: kLanes bytes at p.
inline void store_u8(float* p, V x) {
    float lanes[kLanes];
    std::memcpy(lanes, &x.q, sizeof lanes);
    unsigned char bytes[kLanes];
    for (int l = 0; l < kLanes; ++l)
        bytes[l] = static_cast<unsigned char>(static_cast<int>(std::nearbyint(std::min(127.0f, std::max(-127.0f, lanes[l])))) + 128);
    std::memcpy(p, bytes, sizeof bytes);
}

#undef GATEDRNN_QUADS

}  // namespace gatedrnn::scalar
