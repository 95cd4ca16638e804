// CPU feature detection and the choice of kernel table (one per process, overridable).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "gatedrnn/kernels.h"

namespace gatedrnn {

// What the CPU and the OS (XSAVE-enabled register state) support.
struct CpuFeatures {
    bool sse2 = false, avx = false, fma = false, f16c = false, avx2 = false;
    bool avx512f = false, avx512cd = false, avx512bw = false, avx512dq = false, avx512vl = false;
    bool avx512_bf16 = false, avx512_vnni = false;
    bool os_avx = false;     // XCR0 enables the ymm state
    bool os_avx512 = false;  // XCR0 enables the opmask and zmm state
};

const CpuFeatures& cpu_features();  // detected once (cpuid + xgetbv)
size_t l2_cache_bytes();            // one core's L2, as the OS reports it (else 1 MiB)

// ISA names, best first: "avx512", "avx2", "scalar".
std::vector<std::string> compiled_isas();   // built into this module
std::vector<std::string> available_isas();  // built and supported by this CPU

// The kernels every call uses. Chosen on first use: GATEDRNN_ISA if set, else the best
// available. Throws std::invalid_argument if GATEDRNN_ISA names an unknown or unsupported
// ISA (the module still imports; set_isa() recovers).
const KernelTable& active_kernels();
std::string selected_isa();
void set_isa(const std::string& name);  // throws std::invalid_argument

}  // namespace gatedrnn
