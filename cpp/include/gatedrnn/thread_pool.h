// The process-wide thread pool: persistent workers, one job at a time, a spin-then-sleep
// barrier for the per-step synchronisation of the recurrent loop. No OpenMP runtime, so it
// lives peacefully beside PyTorch's and NumPy's in one process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace gatedrnn {

// All threads of a job call wait(); it returns once every one of them has arrived.
// Spins first (a step is microseconds), then yields the CPU so an oversubscribed machine
// still makes progress.
class Barrier {
public:
    void reset(int participants);
    void wait();

private:
    int n_ = 1;
    std::atomic<int> arrived_{0};
    std::atomic<uint32_t> generation_{0};
};

class ThreadPool {
public:
    static ThreadPool& instance();

    // Runs job(tid, nthreads, barrier) on nthreads <= requested threads, the caller being
    // tid 0, and returns when every thread has finished. nthreads is 1 when the pool is
    // busy with another caller's job (the caller then does all the work itself): results
    // must not depend on nthreads, which the kernels guarantee.
    template <class F>
    void run(int requested, F&& job) {
        run_impl(requested, &trampoline<std::remove_reference_t<F>>, &job);
    }

    ~ThreadPool();

private:
    using JobFn = void (*)(void* ctx, int tid, int nthreads, Barrier& barrier);
    template <class F>
    static void trampoline(void* ctx, int tid, int nthreads, Barrier& barrier) {
        (*static_cast<F*>(ctx))(tid, nthreads, barrier);
    }
    void run_impl(int requested, JobFn fn, void* ctx);
    void worker_loop(int tid);
    friend void reset_pool_after_fork();

    std::mutex run_mutex_;  // one job at a time
    std::mutex wake_mutex_;
    std::condition_variable wake_cv_;
    std::vector<std::thread> workers_;
    int sleepers_ = 0;      // guarded by wake_mutex_
    bool stop_ = false;     // guarded by wake_mutex_
    std::atomic<uint64_t> epoch_{0};
    std::atomic<int> pending_{0};
    JobFn fn_ = nullptr;
    void* ctx_ = nullptr;
    std::atomic<int> nthreads_{1};  // read by idle workers while the next job is posted
    Barrier barrier_;
};

}  // namespace gatedrnn
