// Testing aid (CMake option GATEDRNN_EMULATE_AVX512): the AVX-512 intrinsics that
// vec_avx512.h uses, written lane by lane in portable C++ from the operations' definitions
// in Intel's Intrinsics Guide, so the avx512 and avx512_bf16_vnni kernels, primitives and
// all, run (slowly) and are tested on CPUs without AVX-512.
//
// Included by vec_avx512.h inside its namespace, in place of <immintrin.h>: the names
// below shadow the compiler's own (which another header may still declare) within it.
// No guard; the standard headers it needs are included by vec_avx512.h before the namespace.

// ---- types: 64 bytes (zmm), 32 (ymm) and 16 (xmm), and the masks ----------------------
struct alignas(64) __m512 {
    float f[16];
};
struct alignas(64) __m512i {
    uint8_t b[64];
};
struct alignas(64) __m512bh {  // 32 bfloat16, the bits of a __m512i
    uint8_t b[64];
    __m512bh() = default;
    explicit __m512bh(const __m512i& i) { std::memcpy(b, i.b, 64); }
};
struct alignas(32) __m256i {
    uint8_t b[32];
};
struct alignas(16) __m128i {
    uint8_t b[16];
};
using __mmask16 = uint16_t;
using __mmask64 = uint64_t;

#ifndef _CMP_LT_OQ
#define _CMP_LT_OQ 0x11
#endif
#ifndef _CMP_UNORD_Q
#define _CMP_UNORD_Q 0x03
#endif

// Lane j of a vector as a value of type T (j counts Ts), and back.
template <class T, class Vec>
inline T lane(const Vec& v, int j) {
    T t;
    std::memcpy(&t, reinterpret_cast<const uint8_t*>(&v) + j * sizeof(T), sizeof(T));
    return t;
}
template <class T, class Vec>
inline void set_lane(Vec& v, int j, T t) {
    std::memcpy(reinterpret_cast<uint8_t*>(&v) + j * sizeof(T), &t, sizeof(T));
}
template <class T, class Vec, class F>
inline Vec map_lanes(const Vec& a, const Vec& b, F f) {
    Vec r;
    for (int j = 0; j < static_cast<int>(sizeof(Vec) / sizeof(T)); ++j) set_lane<T>(r, j, f(lane<T>(a, j), lane<T>(b, j)));
    return r;
}
inline bool mask_bit(uint64_t k, int j) { return (k >> j) & 1u; }

// ---- float lanes ----------------------------------------------------------------------
inline __m512 _mm512_setzero_ps() { return __m512{}; }
inline __m512 _mm512_set1_ps(float x) {
    __m512 r;
    for (float& f : r.f) f = x;
    return r;
}
inline __m512 _mm512_loadu_ps(const void* p) {
    __m512 r;
    std::memcpy(&r, p, 64);
    return r;
}
inline void _mm512_storeu_ps(void* p, __m512 a) { std::memcpy(p, &a, 64); }
inline __m512 _mm512_maskz_loadu_ps(__mmask16 k, const void* p) {  // masked-off lanes are not read
    __m512 r{};
    for (int j = 0; j < 16; ++j)
        if (mask_bit(k, j)) std::memcpy(&r.f[j], static_cast<const float*>(p) + j, 4);
    return r;
}
inline void _mm512_mask_storeu_ps(void* p, __mmask16 k, __m512 a) {
    for (int j = 0; j < 16; ++j)
        if (mask_bit(k, j)) std::memcpy(static_cast<float*>(p) + j, &a.f[j], 4);
}
inline __m512 _mm512_add_ps(__m512 a, __m512 b) { return map_lanes<float>(a, b, [](float x, float y) { return x + y; }); }
inline __m512 _mm512_sub_ps(__m512 a, __m512 b) { return map_lanes<float>(a, b, [](float x, float y) { return x - y; }); }
inline __m512 _mm512_mul_ps(__m512 a, __m512 b) { return map_lanes<float>(a, b, [](float x, float y) { return x * y; }); }
inline __m512 _mm512_div_ps(__m512 a, __m512 b) { return map_lanes<float>(a, b, [](float x, float y) { return x / y; }); }
// vmaxps / vminps: the second operand when either is NaN or both are zeros.
inline __m512 _mm512_max_ps(__m512 a, __m512 b) { return map_lanes<float>(a, b, [](float x, float y) { return x > y ? x : y; }); }
inline __m512 _mm512_min_ps(__m512 a, __m512 b) { return map_lanes<float>(a, b, [](float x, float y) { return x < y ? x : y; }); }
inline __m512 _mm512_fmadd_ps(__m512 a, __m512 b, __m512 c) {
    __m512 r;
    for (int j = 0; j < 16; ++j) r.f[j] = std::fma(a.f[j], b.f[j], c.f[j]);  // one rounding
    return r;
}
inline __mmask16 _mm512_cmp_ps_mask(__m512 a, __m512 b, const int predicate) {
    __mmask16 k = 0;
    for (int j = 0; j < 16; ++j) {
        const float x = a.f[j], y = b.f[j];
        bool bit;
        if (predicate == _CMP_LT_OQ) {
            bit = x < y;  // false when either is NaN
        } else if (predicate == _CMP_UNORD_Q) {
            bit = std::isnan(x) || std::isnan(y);
        } else {
            std::abort();  // a predicate this emulation does not know
        }
        k = static_cast<__mmask16>(k | (bit ? 1u << j : 0u));
    }
    return k;
}
inline __m512 _mm512_maskz_mov_ps(__mmask16 k, __m512 a) {
    __m512 r{};
    for (int j = 0; j < 16; ++j) r.f[j] = mask_bit(k, j) ? a.f[j] : 0.0f;
    return r;
}
inline __m512 _mm512_mask_blend_ps(__mmask16 k, __m512 a, __m512 b) {  // b where k is set
    __m512 r;
    for (int j = 0; j < 16; ++j) r.f[j] = mask_bit(k, j) ? b.f[j] : a.f[j];
    return r;
}

// ---- bit casts and 32-bit integer lanes -------------------------------------------------
inline __m512i _mm512_castps_si512(__m512 a) {
    __m512i r;
    std::memcpy(&r, &a, 64);
    return r;
}
inline __m512 _mm512_castsi512_ps(__m512i a) {
    __m512 r;
    std::memcpy(&r, &a, 64);
    return r;
}
inline __m512i _mm512_setzero_si512() { return __m512i{}; }
inline __m512i _mm512_set1_epi32(int x) {
    __m512i r;
    for (int j = 0; j < 16; ++j) set_lane<int32_t>(r, j, x);
    return r;
}
inline __m512i _mm512_set1_epi16(short x) {
    __m512i r;
    for (int j = 0; j < 32; ++j) set_lane<int16_t>(r, j, x);
    return r;
}
inline __m512i _mm512_set1_epi8(char x) {
    __m512i r;
    std::memset(r.b, static_cast<unsigned char>(x), 64);
    return r;
}
inline __m512i _mm512_and_si512(__m512i a, __m512i b) { return map_lanes<uint8_t>(a, b, [](uint8_t x, uint8_t y) { return uint8_t(x & y); }); }
inline __m512i _mm512_or_si512(__m512i a, __m512i b) { return map_lanes<uint8_t>(a, b, [](uint8_t x, uint8_t y) { return uint8_t(x | y); }); }
inline __m512i _mm512_xor_si512(__m512i a, __m512i b) { return map_lanes<uint8_t>(a, b, [](uint8_t x, uint8_t y) { return uint8_t(x ^ y); }); }
inline __m512i _mm512_add_epi32(__m512i a, __m512i b) {  // wraps
    return map_lanes<uint32_t>(a, b, [](uint32_t x, uint32_t y) { return x + y; });
}
inline __m512i _mm512_slli_epi32(__m512i a, unsigned int n) {
    __m512i r;
    for (int j = 0; j < 16; ++j) set_lane<uint32_t>(r, j, n > 31 ? 0u : lane<uint32_t>(a, j) << n);
    return r;
}
inline __m512i _mm512_srli_epi32(__m512i a, unsigned int n) {
    __m512i r;
    for (int j = 0; j < 16; ++j) set_lane<uint32_t>(r, j, n > 31 ? 0u : lane<uint32_t>(a, j) >> n);
    return r;
}
inline __m512i _mm512_mask_or_epi32(__m512i src, __mmask16 k, __m512i a, __m512i b) {
    __m512i r;
    for (int j = 0; j < 16; ++j)
        set_lane<uint32_t>(r, j, mask_bit(k, j) ? lane<uint32_t>(a, j) | lane<uint32_t>(b, j) : lane<uint32_t>(src, j));
    return r;
}
inline __m512i _mm512_mask_and_epi32(__m512i src, __mmask16 k, __m512i a, __m512i b) {
    __m512i r;
    for (int j = 0; j < 16; ++j)
        set_lane<uint32_t>(r, j, mask_bit(k, j) ? lane<uint32_t>(a, j) & lane<uint32_t>(b, j) : lane<uint32_t>(src, j));
    return r;
}
inline __mmask16 _mm512_testn_epi32_mask(__m512i a, __m512i b) {  // set where a & b == 0
    __mmask16 k = 0;
    for (int j = 0; j < 16; ++j)
        if ((lane<uint32_t>(a, j) & lane<uint32_t>(b, j)) == 0) k = static_cast<__mmask16>(k | 1u << j);
    return k;
}
inline __mmask16 _mm512_movepi32_mask(__m512i a) {  // the sign bits
    __mmask16 k = 0;
    for (int j = 0; j < 16; ++j)
        if (lane<uint32_t>(a, j) >> 31) k = static_cast<__mmask16>(k | 1u << j);
    return k;
}
// vcvtps2dq under the default rounding (to nearest even); NaN and out-of-range values
// give the "integer indefinite" 0x80000000.
inline __m512i _mm512_cvtps_epi32(__m512 a) {
    __m512i r;
    for (int j = 0; j < 16; ++j) {
        const float x = a.f[j];
        const float n = std::nearbyint(x);
        const bool fits = n >= -2147483648.0f && n < 2147483648.0f;  // false for NaN
        set_lane<int32_t>(r, j, fits ? static_cast<int32_t>(n) : INT32_MIN);
    }
    return r;
}
inline __m512 _mm512_cvtepi32_ps(__m512i a) {
    __m512 r;
    for (int j = 0; j < 16; ++j) r.f[j] = static_cast<float>(lane<int32_t>(a, j));  // nearest even
    return r;
}
// vpmovdb / vpmovdw: each 32-bit lane truncated to its low 8 / 16 bits.
inline __m128i _mm512_cvtepi32_epi8(__m512i a) {
    __m128i r;
    for (int j = 0; j < 16; ++j) set_lane<uint8_t>(r, j, static_cast<uint8_t>(lane<uint32_t>(a, j)));
    return r;
}
inline __m256i _mm512_cvtepi32_epi16(__m512i a) {
    __m256i r;
    for (int j = 0; j < 16; ++j) set_lane<uint16_t>(r, j, static_cast<uint16_t>(lane<uint32_t>(a, j)));
    return r;
}
inline void _mm_storeu_si128(__m128i* p, __m128i a) { std::memcpy(p, &a, 16); }
inline void _mm256_storeu_si256(__m256i* p, __m256i a) { std::memcpy(p, &a, 32); }

// ---- 8- and 16-bit integer lanes (AVX-512BW) --------------------------------------------
inline __mmask64 _mm512_movepi8_mask(__m512i a) {  // the sign bits
    __mmask64 k = 0;
    for (int j = 0; j < 64; ++j)
        if (a.b[j] >> 7) k |= uint64_t{1} << j;
    return k;
}
inline __m512i _mm512_mask_sub_epi8(__m512i src, __mmask64 k, __m512i a, __m512i b) {  // wraps
    __m512i r;
    for (int j = 0; j < 64; ++j) r.b[j] = mask_bit(k, j) ? static_cast<uint8_t>(a.b[j] - b.b[j]) : src.b[j];
    return r;
}
inline __m512i _mm512_abs_epi8(__m512i a) {  // -128 stays 0x80
    __m512i r;
    for (int j = 0; j < 64; ++j) {
        const int x = static_cast<int8_t>(a.b[j]);
        r.b[j] = static_cast<uint8_t>(x < 0 ? -x : x);
    }
    return r;
}
// vpmaddubsw: unsigned bytes of a times signed bytes of b, adjacent pairs added with
// signed saturation to 16 bits.
inline __m512i _mm512_maddubs_epi16(__m512i a, __m512i b) {
    __m512i r;
    for (int j = 0; j < 32; ++j) {
        const int sum = a.b[2 * j] * static_cast<int8_t>(b.b[2 * j]) + a.b[2 * j + 1] * static_cast<int8_t>(b.b[2 * j + 1]);
        set_lane<int16_t>(r, j, static_cast<int16_t>(sum > 32767 ? 32767 : (sum < -32768 ? -32768 : sum)));
    }
    return r;
}
// vpmaddwd: signed 16-bit products, adjacent pairs added into 32 bits (wrapping).
inline __m512i _mm512_madd_epi16(__m512i a, __m512i b) {
    __m512i r;
    for (int j = 0; j < 16; ++j) {
        const int64_t sum = int64_t{lane<int16_t>(a, 2 * j)} * lane<int16_t>(b, 2 * j) +
                            int64_t{lane<int16_t>(a, 2 * j + 1)} * lane<int16_t>(b, 2 * j + 1);
        set_lane<uint32_t>(r, j, static_cast<uint32_t>(sum));
    }
    return r;
}

// ---- AVX512_VNNI and AVX512_BF16 ----------------------------------------------------------
// vpdpbusd: src + the four products of a's unsigned and b's signed bytes, per 32-bit lane
// (wrapping).
inline __m512i _mm512_dpbusd_epi32(__m512i src, __m512i a, __m512i b) {
    __m512i r;
    for (int j = 0; j < 16; ++j) {
        int64_t sum = lane<int32_t>(src, j);
        for (int q = 0; q < 4; ++q) sum += a.b[4 * j + q] * static_cast<int8_t>(b.b[4 * j + q]);
        set_lane<uint32_t>(r, j, static_cast<uint32_t>(sum));
    }
    return r;
}
// vdpbf16ps: src + a[2j+1] * b[2j+1] + a[2j] * b[2j] per lane j, in that order, each add
// rounded to nearest even with denormal inputs and results flushed to zero (products of two
// bfloat16 are exact in float32).
inline float flush_denormal(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x; }
inline float bf16_value(const __m512bh& v, int k) {
    const uint32_t bits = uint32_t{lane<uint16_t>(v, k)} << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return flush_denormal(f);
}
inline __m512 _mm512_dpbf16_ps(__m512 src, __m512bh a, __m512bh b) {
    __m512 r;
    for (int j = 0; j < 16; ++j) {
        float acc = flush_denormal(src.f[j]);
        acc = flush_denormal(acc + flush_denormal(bf16_value(a, 2 * j + 1) * bf16_value(b, 2 * j + 1)));
        acc = flush_denormal(acc + flush_denormal(bf16_value(a, 2 * j) * bf16_value(b, 2 * j)));
        r.f[j] = acc;
    }
    return r;
}
