import COpenBLAS
import Synchronization

/// Row-major single-precision matrix products through OpenBLAS.
public enum Matrix {
    /// OpenBLAS threads. One by default: an edge agent shares its cores with other work, and
    /// FedMQ's batches are small enough that threading costs more than it gains.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    static let singleThreaded: Void = { setThreads(1) }()

    /// One product at a time in a process. Debian's single-threaded OpenBLAS, the build FedMQ's
    /// executables load first, is compiled without `USE_LOCKING`: its pool of work buffers is
    /// unguarded, so two threads in `sgemm` at once can be handed the same buffer and compute
    /// with each other's numbers (measured: 0.2% to 1.7% of products wrong with 2 to 8 threads
    /// on small shapes). A process with one training runs it on one thread and never waits here.
    private static let oneProductAtATime = Mutex(())

    /// C = alpha * op(A) * op(B) + beta * C, where op(A) is m x k and op(B) is k x n.
    /// A is stored m x k (or k x m when `transposeA`), B k x n (or n x k when `transposeB`).
    @inline(__always)
    static func gemm(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1, beta: Float = 0
    ) {
        _ = singleThreaded
        oneProductAtATime.withLock { _ in
            cblas_sgemm(
                CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n), beta, c,
                Int32(n))
        }
    }
}

/// Vector operations through OpenBLAS (vectorised; Swift loops over two arrays keep bounds
/// checks that stop the compiler from vectorising them).
enum Vector {
    /// y += alpha * x
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) {
        _ = Matrix.singleThreaded
        cblas_saxpy(Int32(y.count), alpha, x.baseAddress, 1, y.baseAddress, 1)
    }

    /// x *= alpha
    @inline(__always)
    static func scale(_ alpha: Float, _ x: UnsafeMutableBufferPointer<Float>) {
        _ = Matrix.singleThreaded
        cblas_sscal(Int32(x.count), alpha, x.baseAddress, 1)
    }
}
