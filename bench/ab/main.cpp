// A/B harness: times two builds of gatedrnn (variant a, variant b) on one case,
// interleaved burst by burst, and prints the median of the per-pair time ratios b / a.
//
//   ab MODE KIND T B I H THREADS ISA [PAIRS [THREADS_B [MODE_B]]]  (MODE: layer | gemm | step | xh)
//
// THREADS_B and MODE_B give variant b another thread count or mode (a and b may be the
// same tree; the outputs are then compared only when the modes agree).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#define DECLARE(ns)                                                                                     \
    namespace ns {                                                                                      \
    std::function<void()> ab_make(const std::string&, const std::string&, int, int, int, int, int,     \
                                  const std::string&, std::vector<float>*);                             \
    }
DECLARE(gatedrnn_a)
DECLARE(gatedrnn_b)

static double seconds(const std::function<void()>& f, int reps) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int main(int argc, char** argv) {
    if (argc < 9) {
        std::fprintf(stderr, "usage: ab layer|gemm|step|xh lstm|gru T B I H THREADS ISA [PAIRS [THREADS_B [MODE_B]]]\n");
        return 2;
    }
    const std::string mode = argv[1], kind = argv[2], isa = argv[8];
    const int T = std::atoi(argv[3]), B = std::atoi(argv[4]), I = std::atoi(argv[5]), H = std::atoi(argv[6]);
    const int threads = std::atoi(argv[7]), pairs = argc > 9 ? std::atoi(argv[9]) : 40;
    const int threads_b = argc > 10 ? std::atoi(argv[10]) : threads;
    std::vector<float> ya, yb;
    auto a = gatedrnn_a::ab_make(mode, kind, T, B, I, H, threads, isa, &ya);
    const std::string mode_b = argc > 11 ? argv[11] : mode;
    auto b = gatedrnn_b::ab_make(mode_b, kind, T, B, I, H, threads_b, isa, &yb);
    a();
    b();
    double maxdiff = 0;
    for (size_t i = 0; i < std::min(ya.size(), yb.size()); ++i) maxdiff = std::max(maxdiff, double(std::fabs(ya[i] - yb[i])));
    // Reps per burst: about 50 ms.
    const double once = seconds(a, 1);
    const int reps = std::max(1, static_cast<int>(0.05 / std::max(once, 1e-7)));
    std::vector<double> ta, tb, ratio;
    for (int p = 0; p < pairs; ++p) {
        double sa, sb;
        if (p % 2 == 0) {
            sa = seconds(a, reps);
            sb = seconds(b, reps);
        } else {
            sb = seconds(b, reps);
            sa = seconds(a, reps);
        }
        ta.push_back(sa);
        tb.push_back(sb);
        ratio.push_back(sb / sa);
    }
    const double flops = 2.0 * T * B * (kind == "gru" ? 3 : 4) * H * (mode == "gemm" ? I : mode == "step" ? H : I + H);
    std::printf("%s %s T=%d B=%d I=%d H=%d threads=%d/%d %s: a %.3f ms (%.1f GFLOP/s)  b %.3f ms (%.1f GFLOP/s)  "
                "b/a median %.3f [q1 %.3f q3 %.3f]  max|ya-yb| %.2g\n",
                mode.c_str(), kind.c_str(), T, B, I, H, threads, threads_b, isa.c_str(), median(ta) * 1e3,
                flops / median(ta) / 1e9, median(tb) * 1e3, flops / median(tb) / 1e9, median(ratio),
                [&] { auto r = ratio; std::sort(r.begin(), r.end()); return r[r.size() / 4]; }(),
                [&] { auto r = ratio; std::sort(r.begin(), r.end()); return r[3 * r.size() / 4]; }(), maxdiff);
    return 0;
}
