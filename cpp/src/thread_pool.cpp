// The thread pool (see thread_pool.h).
#include "gatedrnn/thread_pool.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <immintrin.h>
#endif

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define GATEDRNN_HAVE_ATFORK 1
#endif

namespace gatedrnn {

namespace {

// A worker idle longer than this between jobs sleeps on a condition variable (waking it
// then costs tens of microseconds); back-to-back calls find it spinning.
constexpr auto kIdleSpin = std::chrono::microseconds(500);

ThreadPool* g_pool = nullptr;
std::once_flag g_pool_once;

}  // namespace

void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

void reset_pool_after_fork() {
    // The child has none of the parent's workers: start over with a fresh, empty pool
    // (the old object is abandoned; its mutexes may be held by threads that no longer exist).
    g_pool = new ThreadPool();
}

ThreadPool& ThreadPool::instance() {
    std::call_once(g_pool_once, [] {
        g_pool = new ThreadPool();
#if defined(GATEDRNN_HAVE_ATFORK)
        pthread_atfork(nullptr, nullptr, [] { reset_pool_after_fork(); });
#endif
    });
    return *g_pool;
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(wake_mutex_);
        stop_ = true;
    }
    wake_cv_.notify_all();
    for (auto& w : workers_) w.join();
}

namespace {
int64_t now_ticks() { return std::chrono::steady_clock::now().time_since_epoch().count(); }
}  // namespace

void ThreadPool::report_contention() {
    const auto until = std::chrono::steady_clock::now() + kSoloAfterContention;
    solo_until_.store(until.time_since_epoch().count(), std::memory_order_relaxed);
}

bool ThreadPool::frequent_small_call() {
    const int64_t now = now_ticks();
    const int64_t previous = last_small_call_.exchange(now, std::memory_order_relaxed);
    return now - previous < std::chrono::duration_cast<std::chrono::steady_clock::duration>(kIdleSpin).count();
}

void ThreadPool::run_impl(int requested, JobFn fn, void* ctx) {
    if (requested > 1 && now_ticks() < solo_until_.load(std::memory_order_relaxed)) requested = 1;
    std::unique_lock<std::mutex> busy(run_mutex_, std::defer_lock);
    if (requested <= 1 || !busy.try_lock()) {
        fn(ctx, 0, 1);
        return;
    }
    while (static_cast<int>(workers_.size()) < requested - 1) {
        const int tid = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, tid] { worker_loop(tid); });
    }
    fn_ = fn;
    ctx_ = ctx;
    nthreads_.store(requested, std::memory_order_relaxed);
    const uint64_t job = epoch_.fetch_add(1, std::memory_order_seq_cst) + 1;
    {
        std::lock_guard<std::mutex> lock(wake_mutex_);
        if (sleepers_ > 0) wake_cv_.notify_all();
    }
    fn(ctx, 0, requested);
    // Latecomers skip the job; those already inside finish it (Dekker-style handshake on
    // closed_ and active_, both sequentially consistent).
    closed_.store(job, std::memory_order_seq_cst);
    wait_until([&] { return active_.load(std::memory_order_seq_cst) == 0; }, std::chrono::microseconds(200));
}

void ThreadPool::worker_loop(int tid) {
    uint64_t seen = 0;
    for (;;) {
        const auto posted = [&] { return epoch_.load(std::memory_order_acquire) != seen; };
        if (!wait_until(posted, kIdleSpin, /*give_up=*/true)) {
            std::unique_lock<std::mutex> lock(wake_mutex_);
            ++sleepers_;
            wake_cv_.wait(lock, [&] { return stop_ || posted(); });
            --sleepers_;
            if (stop_) return;
        }
        seen = epoch_.load(std::memory_order_acquire);
        const int n = nthreads_.load(std::memory_order_relaxed);
        if (tid >= n) continue;
        active_.fetch_add(1, std::memory_order_seq_cst);
        if (closed_.load(std::memory_order_seq_cst) != seen) fn_(ctx_, tid, n);
        active_.fetch_sub(1, std::memory_order_seq_cst);
    }
}

}  // namespace gatedrnn
