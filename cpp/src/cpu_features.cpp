// CPU feature detection: cpuid leaves 1 and 7, and xgetbv for the OS-enabled state.
#include "gatedrnn/dispatch.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define GATEDRNN_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <unistd.h>
#endif

namespace gatedrnn {
namespace {

#if defined(GATEDRNN_X86)
struct Regs {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs cpuid(uint32_t leaf, uint32_t subleaf) {
    Regs r;
#if defined(_MSC_VER)
    int v[4];
    __cpuidex(v, static_cast<int>(leaf), static_cast<int>(subleaf));
    r = {static_cast<uint32_t>(v[0]), static_cast<uint32_t>(v[1]), static_cast<uint32_t>(v[2]),
         static_cast<uint32_t>(v[3])};
#else
    if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return Regs{};
#endif
    return r;
}

uint64_t xgetbv0() {
#if defined(_MSC_VER)
    return _xgetbv(0);
#else
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
#endif
}

bool bit(uint32_t reg, int b) { return (reg >> b) & 1u; }

CpuFeatures detect() {
    CpuFeatures f;
    const uint32_t max_leaf = cpuid(0, 0).eax;
    if (max_leaf < 1) return f;
    const Regs l1 = cpuid(1, 0);
    f.sse2 = bit(l1.edx, 26);
    f.fma = bit(l1.ecx, 12);
    f.f16c = bit(l1.ecx, 29);
    f.avx = bit(l1.ecx, 28);
    const bool osxsave = bit(l1.ecx, 27);
    uint64_t xcr0 = 0;
    if (osxsave) xcr0 = xgetbv0();
    f.os_avx = osxsave && (xcr0 & 0x6) == 0x6;            // SSE and AVX state
    f.os_avx512 = f.os_avx && (xcr0 & 0xE6) == 0xE6;       // plus opmask, ZMM_Hi256, Hi16_ZMM
    if (max_leaf >= 7) {
        const Regs l7 = cpuid(7, 0);
        f.avx2 = bit(l7.ebx, 5);
        f.avx512f = bit(l7.ebx, 16);
        f.avx512dq = bit(l7.ebx, 17);
        f.avx512cd = bit(l7.ebx, 28);
        f.avx512bw = bit(l7.ebx, 30);
        f.avx512vl = bit(l7.ebx, 31);
        f.avx512_vnni = bit(l7.ecx, 11);
        if (l7.eax >= 1) f.avx512_bf16 = bit(cpuid(7, 1).eax, 5);
    }
    return f;
}
#else
CpuFeatures detect() { return CpuFeatures{}; }
#endif

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

size_t l2_cache_bytes() {
    static const size_t bytes = [] {
        long n = 0;
#if defined(__linux__) && defined(_SC_LEVEL2_CACHE_SIZE)
        n = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
        return n > 0 ? static_cast<size_t>(n) : size_t{1} << 20;
    }();
    return bytes;
}

}  // namespace gatedrnn
