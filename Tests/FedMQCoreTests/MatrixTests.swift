import Testing

@testable import FedMQCore

@Suite("Matrix products")
struct MatrixTests {
    /// Several threads in matrix products at once (several trainings in one process: the
    /// in-process runtimes, the benchmarks' fleets) must compute what one thread computes.
    @Test("products on four threads at once equal the same product computed alone, bit for bit")
    func concurrentProducts() async throws {
        // A GRU's input gates (time steps x rows by 3 gates x units, from 3 channels; B transposed):
        // one of the shapes on which Debian's unlocked OpenBLAS mixed up two threads' buffers.
        let (m, n, k) = (35, 12, 3)
        let a = (0..<(m * k)).map { Float(($0 * 37) % 101) / 50 - 1 }
        let b = (0..<(n * k)).map { Float(($0 * 53) % 97) / 48 - 1 }
        @Sendable func product() -> [Float] {
            var c = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        Matrix.gemm(a.baseAddress!, b.baseAddress!, c.baseAddress!, m: m, n: n, k: k, transposeB: true)
                    }
                }
            }
            return c
        }
        let alone = product()
        let wrong = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 { group.addTask { try await onOwnThread { (0..<20_000).count { _ in product() != alone } } } }
            return try await group.reduce(0, +)
        }
        #expect(wrong == 0, "\(wrong) of 80000 products differ from the one computed alone")
        // And the product is the product: row 0, column 0 by hand.
        let first = (0..<k).reduce(Float(0)) { $0 + a[$1] * b[$1] }
        #expect(abs(alone[0] - first) <= 1e-6 * max(1, abs(first)))
    }
}
