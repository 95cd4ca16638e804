// The kernel table every call uses: the best ISA this CPU supports, or GATEDRNN_ISA.
#include "gatedrnn/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

namespace gatedrnn {
namespace {

struct IsaEntry {
    const char* name;
    const KernelTable* table;
    bool (*supported)(const CpuFeatures&);
};

// Best first. avx2 means AVX2 + FMA; avx512 means F, CD, BW, DQ and VL with the OS
// saving the zmm state, exactly the flags the avx512 kernels are compiled with.
const IsaEntry kIsas[] = {
#if defined(GATEDRNN_HAVE_AVX512_KERNELS)
#if defined(GATEDRNN_EMULATE_AVX512)  // testing aid: emulated intrinsics (CMakeLists.txt)
    {"avx512", &avx512::kernels, [](const CpuFeatures& f) { return f.os_avx && f.avx2 && f.fma; }},
#else
    {"avx512", &avx512::kernels,
     [](const CpuFeatures& f) {
         return f.os_avx512 && f.avx2 && f.fma && f.avx512f && f.avx512cd && f.avx512bw &&
                f.avx512dq && f.avx512vl;
     }},
#endif
#endif
#if defined(GATEDRNN_HAVE_X86_KERNELS)
    {"avx2", &avx2::kernels, [](const CpuFeatures& f) { return f.os_avx && f.avx2 && f.fma; }},
#endif
    {"scalar", &scalar::kernels, [](const CpuFeatures&) { return true; }},
};

std::string names(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& n : v) s += (s.empty() ? "" : ", ") + n;
    return s;
}

const IsaEntry* find_available(const std::string& name) {
    for (const auto& e : kIsas)
        if (name == e.name) return e.supported(cpu_features()) ? &e : nullptr;
    return nullptr;
}

std::atomic<const IsaEntry*> g_active{nullptr};
std::mutex g_init_mutex;

const IsaEntry& choose(const std::string& name, const char* what) {
    if (const IsaEntry* e = find_available(name)) return *e;
    bool known = false;
    for (const auto& e : kIsas) known = known || name == e.name;
    throw std::invalid_argument(std::string(what) + ": " +
                                (known ? "this CPU does not support ISA '" : "unknown ISA '") +
                                name + "'; available: " + names(available_isas()));
}

const IsaEntry& active_entry() {
    if (const IsaEntry* e = g_active.load(std::memory_order_acquire)) return *e;
    std::lock_guard<std::mutex> lock(g_init_mutex);
    if (const IsaEntry* e = g_active.load(std::memory_order_acquire)) return *e;
    const char* env = std::getenv("GATEDRNN_ISA");
    const IsaEntry* chosen = nullptr;
    if (env != nullptr && *env != '\0') {
        chosen = &choose(env, "GATEDRNN_ISA");  // throws, leaving the choice open
    } else {
        for (const auto& e : kIsas)
            if (e.supported(cpu_features())) { chosen = &e; break; }
    }
    g_active.store(chosen, std::memory_order_release);
    return *chosen;
}

}  // namespace

std::vector<std::string> compiled_isas() {
    std::vector<std::string> v;
    for (const auto& e : kIsas) v.emplace_back(e.name);
    return v;
}

std::vector<std::string> available_isas() {
    std::vector<std::string> v;
    for (const auto& e : kIsas)
        if (e.supported(cpu_features())) v.emplace_back(e.name);
    return v;
}

const KernelTable& active_kernels() {
    const IsaEntry& e = active_entry();
#if defined(GATEDRNN_HAVE_AVX512_DOT_KERNELS)
    // The same kernels with vdpbf16ps and vpdpbusd for bf16 and int8 products, where the
    // CPU has AVX512_BF16 and AVX512_VNNI (GATEDRNN_WIDEN=1 keeps the widening ones, e.g.
    // to compare the two).
    static const bool dot = [] {
        const char* env = std::getenv("GATEDRNN_WIDEN");
        const bool widen = env != nullptr && *env != '\0' && std::string(env) != "0";
#if defined(GATEDRNN_EMULATE_AVX512)
        return !widen;
#else
        return cpu_features().avx512_bf16 && cpu_features().avx512_vnni && !widen;
#endif
    }();
    if (e.table == &avx512::kernels && dot) return avx512_bf16_vnni::kernels;
#endif
    return *e.table;
}

std::string selected_isa() { return active_entry().name; }

void set_isa(const std::string& name) {
    const IsaEntry& e = choose(name, "set_isa");
    std::lock_guard<std::mutex> lock(g_init_mutex);
    g_active.store(&e, std::memory_order_release);
}

}  // namespace gatedrnn
