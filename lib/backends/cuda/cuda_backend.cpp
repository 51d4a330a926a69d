// CUDA backend: host code only (cuBLAS, cuSOLVER, runtime copies), so it builds with the
// host compiler. Matrices are row-major on the host; cuBLAS is column-major, so every call
// works on the transposes, which are the same memory.
#include "backends/cuda/cuda_backend.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace surgeon {
namespace {

void check(cudaError_t status, const char* what) {
    if (status == cudaSuccess) return;
    fail(status == cudaErrorMemoryAllocation ? SURGEON_ERR_OUT_OF_MEMORY : SURGEON_ERR_INTERNAL,
         std::string("CUDA ") + what + ": " + cudaGetErrorString(status));
}

void check(cublasStatus_t status, const char* what) {
    if (status == CUBLAS_STATUS_SUCCESS) return;
    fail(status == CUBLAS_STATUS_ALLOC_FAILED ? SURGEON_ERR_OUT_OF_MEMORY : SURGEON_ERR_INTERNAL,
         std::string("cuBLAS ") + what + ": " + cublasGetStatusString(status));
}

void check(cusolverStatus_t status, const char* what) {
    if (status == CUSOLVER_STATUS_SUCCESS) return;
    fail(status == CUSOLVER_STATUS_ALLOC_FAILED ? SURGEON_ERR_OUT_OF_MEMORY
                                                : SURGEON_ERR_INTERNAL,
         std::string("cuSOLVER ") + what + ": status " + std::to_string(status));
}

// Device memory that only grows, reused across calls.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { cudaFree(ptr_); }

    void* reserve(size_t bytes) {
        if (bytes > bytes_) {
            cudaFree(ptr_);
            ptr_ = nullptr;
            bytes_ = 0;
            check(cudaMalloc(&ptr_, bytes), "cudaMalloc");
            bytes_ = bytes;
        }
        return ptr_;
    }
    float* floats(int64_t count) {
        return static_cast<float*>(reserve(static_cast<size_t>(count) * sizeof(float)));
    }

private:
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
};

class CudaBackend final : public Backend {
public:
    CudaBackend(double min_device_work, Backend& host) : min_work_(min_device_work), host_(host) {
        check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream");
        check(cublasCreate(&blas_), "create");
        check(cublasSetStream(blas_, stream_), "set stream");
        check(cusolverDnCreate(&solver_), "create");
        check(cusolverDnSetStream(solver_, stream_), "set stream");
        check(cusolverDnCreateParams(&params_), "create params");
    }
    ~CudaBackend() override {
        cusolverDnDestroyParams(params_);
        cusolverDnDestroy(solver_);
        cublasDestroy(blas_);
        cudaStreamDestroy(stream_);
    }
    CudaBackend(const CudaBackend&) = delete;
    CudaBackend& operator=(const CudaBackend&) = delete;

    const char* name() const override { return "cuda"; }
    int threads() const override { return host_.threads(); }
    Backend& single_threaded() override;

    void syrk_upper(const float* x, int64_t k, int64_t n, int64_t ldx, float alpha,
                    float* c) override {
        if (k == 0 || n == 0) return;
        if (work(n, n, k) < min_work_) return host_.syrk_upper(x, k, n, ldx, alpha, c);
        std::lock_guard<std::mutex> lock(mutex_);
        float* dx = a_.floats(k * n);
        float* dc = c_.floats(n * n);
        upload(dx, x, k, n, ldx);
        upload(dc, c, n, n, n);
        // Row-major x (k × n) is column-major xᵀ (n × k): xᵀx = (xᵀ)(xᵀ)ᵀ, a plain 'N'
        // syrk; the row-major upper triangle is the column-major lower one.
        const float one = 1.0f;
        check(cublasSsyrk_64(blas_, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, n, k, &alpha, dx, n,
                             &one, dc, n),
              "ssyrk");
        download(c, dc, n, n, n);
    }

    // Row-major c = op(a)·op(b) is column-major cᵀ = op(b)ᵀ·op(a)ᵀ: the same operation
    // flags with the operands swapped.
    void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
              int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc) override {
        if (m == 0 || n == 0) return;
        if (work(m, n, k) < min_work_)
            return host_.gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        std::lock_guard<std::mutex> lock(mutex_);
        const int64_t a_rows = ta == Trans::no ? m : k, a_cols = ta == Trans::no ? k : m;
        const int64_t b_rows = tb == Trans::no ? k : n, b_cols = tb == Trans::no ? n : k;
        float* da = a_.floats(m * k);
        float* db = b_.floats(k * n);
        float* dc = c_.floats(m * n);
        upload(da, a, a_rows, a_cols, lda);
        upload(db, b, b_rows, b_cols, ldb);
        if (beta != 0.0f) upload(dc, c, m, n, ldc);
        const auto op = [](Trans t) { return t == Trans::no ? CUBLAS_OP_N : CUBLAS_OP_T; };
        check(cublasSgemm_64(blas_, op(tb), op(ta), n, m, k, &alpha, db, b_cols, da, a_cols,
                             &beta, dc, n),
              "sgemm");
        download(c, dc, m, n, ldc);
    }

    bool upper_cholesky_of_inverse(float* h, int64_t n) override {
        if (n == 0) return true;
        if (work(n, n, n) < min_work_) return host_.upper_cholesky_of_inverse(h, n);
        std::lock_guard<std::mutex> lock(mutex_);
        const size_t total = static_cast<size_t>(n) * static_cast<size_t>(n);
        float* dh = a_.floats(n * n);
        int* dinfo = static_cast<int*>(info_.reserve(sizeof(int)));

        std::reverse(h, h + total);
        upload(dh, h, n, n, n);
        size_t device_bytes = 0, host_bytes = 0;
        check(cusolverDnXpotrf_bufferSize(solver_, params_, CUBLAS_FILL_MODE_UPPER, n,
                                          CUDA_R_32F, dh, n, CUDA_R_32F, &device_bytes,
                                          &host_bytes),
              "potrf workspace");
        size_t trtri_device = 0, trtri_host = 0;
        check(cusolverDnXtrtri_bufferSize(solver_, CUBLAS_FILL_MODE_UPPER,
                                          CUBLAS_DIAG_NON_UNIT, n, CUDA_R_32F, dh, n,
                                          &trtri_device, &trtri_host),
              "trtri workspace");
        device_bytes = std::max(device_bytes, trtri_device);
        host_bytes = std::max(host_bytes, trtri_host);
        void* dwork = work_.reserve(std::max<size_t>(device_bytes, 1));
        host_work_.resize(std::max<size_t>(host_bytes, 1));

        check(cusolverDnXpotrf(solver_, params_, CUBLAS_FILL_MODE_UPPER, n, CUDA_R_32F, dh, n,
                               CUDA_R_32F, dwork, device_bytes, host_work_.data(), host_bytes,
                               dinfo),
              "potrf");
        if (device_info(dinfo) != 0) return false;
        check(cusolverDnXtrtri(solver_, CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, n,
                               CUDA_R_32F, dh, n, dwork, device_bytes, host_work_.data(),
                               host_bytes, dinfo),
              "trtri");
        if (device_info(dinfo) != 0) return false;
        download(h, dh, n, n, n);
        std::reverse(h, h + total);
        for (int64_t i = 1; i < n; ++i) std::fill(h + i * n, h + i * n + i, 0.0f);
        return true;
    }

private:
    static double work(int64_t m, int64_t n, int64_t k) {
        return static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
    }

    // rows × cols of a row-major host matrix with leading dimension ld, packed on the device.
    void upload(float* device, const float* host, int64_t rows, int64_t cols, int64_t ld) {
        const size_t width = static_cast<size_t>(cols) * sizeof(float);
        check(cudaMemcpy2DAsync(device, width, host, static_cast<size_t>(ld) * sizeof(float),
                                width, static_cast<size_t>(rows), cudaMemcpyHostToDevice,
                                stream_),
              "upload");
    }
    void download(float* host, const float* device, int64_t rows, int64_t cols, int64_t ld) {
        const size_t width = static_cast<size_t>(cols) * sizeof(float);
        check(cudaMemcpy2DAsync(host, static_cast<size_t>(ld) * sizeof(float), device, width,
                                width, static_cast<size_t>(rows), cudaMemcpyDeviceToHost,
                                stream_),
              "download");
        check(cudaStreamSynchronize(stream_), "synchronize");
    }
    int device_info(const int* dinfo) {
        int info = 0;
        check(cudaMemcpyAsync(&info, dinfo, sizeof(int), cudaMemcpyDeviceToHost, stream_),
              "info");
        check(cudaStreamSynchronize(stream_), "synchronize");
        return info;
    }

    // The SVD of spectral analysis runs on the host: it is small and not on a hot path.
    bool singular_values(float* a, int64_t m, int64_t n, int64_t lda, float* s) override {
        return host_.singular_values(a, m, n, lda, s);
    }

    double min_work_;
    Backend& host_;  // small calls and the SVD
    std::mutex mutex_;  // one stream and one set of buffers: device calls are serialized
    cudaStream_t stream_ = nullptr;
    cublasHandle_t blas_ = nullptr;
    cusolverDnHandle_t solver_ = nullptr;
    cusolverDnParams_t params_ = nullptr;
    DeviceBuffer a_, b_, c_, work_, info_;
    std::vector<unsigned char> host_work_;
};

// Below ~10⁸ multiply-adds the CPU finishes in milliseconds, about what the PCIe round
// trip costs. A starting point, not tuned on hardware.
constexpr double kDefaultMinDeviceWork = 1 << 27;

}  // namespace

int cuda_device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver / no device" error
        return 0;
    }
    return count;
}

std::unique_ptr<Backend> make_cuda_backend(double min_device_work, Backend& host) {
    if (cuda_device_count() == 0) return nullptr;
    return std::make_unique<CudaBackend>(min_device_work, host);
}

namespace {
// One device backend per host thread count, created on first use and never destroyed:
// CUDA handles must not be released after the runtime has shut down at process exit.
Backend& device_backend(int threads) {
    Backend& host = cpu_backend(threads);
    static std::mutex mutex;
    static std::map<int, Backend*> devices;
    std::lock_guard<std::mutex> lock(mutex);
    auto found = devices.find(host.threads());
    if (found == devices.end())
        found = devices.emplace(host.threads(), make_cuda_backend(kDefaultMinDeviceWork, host).release()).first;
    return found->second ? *found->second : host;
}
}  // namespace

Backend& CudaBackend::single_threaded() { return device_backend(1); }

Backend& backend_for(const Context& ctx) {
    if (ctx.device != Device::cuda) return cpu_backend(ctx.effective_threads());
    return device_backend(ctx.effective_threads());
}

}  // namespace surgeon
