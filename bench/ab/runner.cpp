// One variant of the A/B harness: compiled once per source tree with -Dgatedrnn=<name>,
// so two builds of the library live side by side in one process (see ab.sh).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "gatedrnn/dispatch.h"
#include "gatedrnn/rnn.h"

namespace gatedrnn {

// The step panel the kernels of `kt` read (trees before panels had a lane width: the
// one layout).
template <class KT, class = void>
struct HasLanes : std::false_type {};
template <class KT>
struct HasLanes<KT, std::void_t<decltype(KT::lanes)>> : std::true_type {};
template <class KT>
Panel step_panel(const KT& kt, const float* w, int H, int G, int K = 0) {
    if constexpr (HasLanes<KT>::value) {
        return pack_panel(w, H, K ? K : H, 0, G, false, kt.lanes);
    } else {
        return pack_panel(w, H, K ? K : H, 0, G);
    }
}

// A case's runner: builds the layer once and returns a function that runs it (mode
// "layer": a whole forward; "gemm": only the input projection of all T*B rows). y gets
// the output to compare the variants.
std::function<void()> ab_make(const std::string& mode, const std::string& kind, int T, int B, int I, int H,
                              int threads, const std::string& isa, std::vector<float>* y) {
    set_isa(isa);
    const KernelTable& kt = active_kernels();
    NetworkConfig cfg;
    cfg.cell = kind == "gru" ? CellType::gru : CellType::lstm;
    cfg.input_size = I;
    cfg.hidden_size = H;
    cfg.num_layers = std::getenv("AB_LAYERS") ? std::atoi(std::getenv("AB_LAYERS")) : 1;
    const int G = cfg.gates();
    struct State {
        std::vector<float> x, w_ih, w_hh, b_ih, b_hh, hn, cn;
        std::unique_ptr<Network> net;
        Panel panel;
        AlignedBuffer bias, gx;
    };
    auto st = std::make_shared<State>();
    std::mt19937 rng(0);
    std::uniform_real_distribution<float> u(-0.0625f, 0.0625f), n(-1.0f, 1.0f);
    st->x.resize(static_cast<size_t>(T) * B * I);
    for (auto& v : st->x) v = n(rng);
    for (auto* w : {&st->w_ih, &st->w_hh}) {
        w->resize(static_cast<size_t>(G) * H * (w == &st->w_ih ? I : H));
        for (auto& v : *w) v = u(rng);
    }
    for (auto* b : {&st->b_ih, &st->b_hh}) {
        b->resize(static_cast<size_t>(G) * H);
        for (auto& v : *b) v = u(rng);
    }
    if (mode == "gemm") {
        st->panel = pack_panel(st->w_ih.data(), H, I, 0, G, true);
        st->bias = pack_bias(st->b_ih.data(), H, 0, G);
        const ptrdiff_t ldc = static_cast<ptrdiff_t>(num_blocks(H)) * G * kBlock;
        st->gx = AlignedBuffer(static_cast<size_t>(T) * B * ldc);
        y->assign(st->gx.size(), 0.0f);
        return [st, &kt, T, B, I, H, ldc, y] {
            GemmArgs g;
            g.a = st->x.data();
            g.a_st = static_cast<ptrdiff_t>(B) * I;
            g.a_sb = I;
            g.rows_per_t = B;
            g.m_begin = 0;
            g.m_end = T * B;
            g.w = st->panel.view();
            g.blk_begin = 0;
            g.blk_end = num_blocks(H);
            g.bias = st->bias.data();
            g.c = st->gx.data();
            g.ldc = ldc;
            kt.f32.gemm(g);
            std::memcpy(y->data(), st->gx.data(), y->size() * sizeof(float));
        };
    }
    if (mode == "step" || mode == "xh") {  // T batched steps of the fused step kernel alone (the same h each time)
        // xh: the input projection folded into the step, over [x_t, h] (K = I + H).
        const int nb = num_blocks(H), Hp = (mode == "xh" ? num_blocks(I + H) : nb) * kBlock;
        if (mode == "xh") {
            std::vector<float> cat(static_cast<size_t>(G) * H * (I + H));
            for (int r = 0; r < G * H; ++r)
                for (int k = 0; k < I + H; ++k)
                    cat[static_cast<size_t>(r) * (I + H) + k] =
                        k < I ? st->w_ih[static_cast<size_t>(r) * I + k] : st->w_hh[static_cast<size_t>(r) * H + k - I];
            st->panel = step_panel(kt, cat.data(), H, G, I + H);
        } else {
            st->panel = step_panel(kt, st->w_hh.data(), H, G);
        }
        st->gx = AlignedBuffer(static_cast<size_t>(B) * nb * G * kBlock * 2);
        st->bias = AlignedBuffer(static_cast<size_t>(B) * Hp * 4);  // h_prev, h_next, c, y
        for (size_t i = 0; i < st->gx.size(); ++i) st->gx.data()[i] = n(rng);
        for (int i = 0; i < B * Hp; ++i) st->bias.data()[i] = n(rng);
        struct Ptrs {
            std::vector<const float*> h_prev, gx;
            std::vector<float*> h_next, y, c, partial;
        };
        auto p = std::make_shared<Ptrs>();
        float* base = st->bias.data();
        float* gxb = st->gx.data();
        for (int i = 0; i < B; ++i) {
            p->h_prev.push_back(base + static_cast<ptrdiff_t>(i) * Hp);
            p->h_next.push_back(base + static_cast<ptrdiff_t>(B + i) * Hp);
            p->c.push_back(base + static_cast<ptrdiff_t>(2 * B + i) * Hp);
            p->y.push_back(base + static_cast<ptrdiff_t>(3 * B + i) * Hp);
            p->gx.push_back(gxb + static_cast<ptrdiff_t>(i) * nb * G * kBlock);
            p->partial.push_back(gxb + static_cast<ptrdiff_t>(B + i) * nb * G * kBlock);
        }
        y->assign(static_cast<size_t>(B) * Hp, 0.0f);
        return [st, p, &kt, T, B, H, G, Hp, y] {
            StepArgs s;
            s.rows.n = B;
            s.rows.h_prev = p->h_prev.data();
            s.rows.gx = p->gx.data();
            s.rows.h_next = p->h_next.data();
            s.rows.y = p->y.data();
            s.rows.c = p->c.data();
            s.rows.partial = B > 1 ? p->partial.data() : nullptr;
            s.w = st->panel.view();
            s.blk_begin = 0;
            s.blk_end = num_blocks(H);
            for (int t = 0; t < T; ++t) (G == 4 ? kt.f32.lstm_step : kt.f32.gru_step)(s);
            std::memcpy(y->data(), p->y[0], static_cast<size_t>(B) * Hp * sizeof(float));
        };
    }
    DirectionWeights dw;
    dw.w_ih = st->w_ih.data();
    dw.w_hh = st->w_hh.data();
    dw.b_ih = st->b_ih.data();
    dw.b_hh = st->b_hh.data();
    st->net = std::make_unique<Network>(cfg, std::vector<DirectionWeights>(cfg.num_layers, dw));
    y->assign(static_cast<size_t>(T) * B * H, 0.0f);
    st->hn.resize(static_cast<size_t>(cfg.num_layers) * B * H);
    st->cn.resize(static_cast<size_t>(cfg.num_layers) * B * H);
    return [st, &kt, T, B, threads, y, lstm = cfg.cell == CellType::lstm] {
        ForwardCall c;
        c.x = st->x.data();
        c.T = T;
        c.B = B;
        c.y = y->data();
        c.h_n = st->hn.data();
        c.c_n = lstm ? st->cn.data() : nullptr;
        c.num_threads = threads;
        st->net->forward(c, kt);
    };
}

}  // namespace gatedrnn
