import FedMQCore
import Testing

@Suite("Parameters and their math")
struct ParametersTests {
    let a = try! Parameters([tensor("W", [2, 2], [1, 2, 3, 4]), tensor("b", [2], [0.5, -0.5])])
    let b = try! Parameters([tensor("W", [2, 2], [4, 3, 2, 1]), tensor("b", [2], [1, 1])])

    @Test("add, subtract, scale and axpy work in place over all tensors")
    func arithmetic() throws {
        var x = a
        try x.add(b)
        #expect(x.tensors.map(\.values) == [[5, 5, 5, 5], [1.5, 0.5]])
        try x.subtract(b)
        #expect(x == a)
        x.scale(by: 2)
        #expect(x.tensors.map(\.values) == [[2, 4, 6, 8], [1, -1]])
        try x.axpy(-0.5, b)
        #expect(x.tensors.map(\.values) == [[0, 2.5, 5, 7.5], [0.5, -1.5]])
    }

    @Test("allFinite finds a NaN or an infinity anywhere, and takes the largest finite values and subnormals")
    func finiteness() throws {
        let edge: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 0]
        #expect(try Parameters([tensor("W", [5], edge)]).allFinite)
        for bad: Float in [.nan, .infinity, -.infinity, .signalingNaN] {
            for position in 0..<5 {
                var values = edge
                values[position] = bad
                #expect(!(try Parameters([tensor("W", [5], edge), tensor("b", [5], values)]).allFinite), "\(bad) at \(position)")
            }
        }
    }

    @Test("dot and the joint L2 norm")
    func dotAndNorm() throws {
        #expect(try a.dot(b) == 4 + 6 + 6 + 4 + 0.5 - 0.5)
        #expect(abs(a.l2Norm - (1 + 4 + 9 + 16 + 0.25 + 0.25).squareRoot()) < 1e-12)
    }

    @Test("clipping by norm leaves the norm at the bound; elementwise clipping clamps")
    func clipping() {
        var x = a
        let before = x.clip(norm: 1)
        #expect(abs(before - a.l2Norm) < 1e-12)
        #expect(abs(x.l2Norm - 1) < 1e-6)
        var small = a
        small.scale(by: 0.01)
        let unchanged = small
        small.clip(norm: 1)
        #expect(small == unchanged)
        var y = a
        y.clip(elementwise: 1.5)
        #expect(y.tensors.map(\.values) == [[1, 1.5, 1.5, 1.5], [0.5, -0.5]])
    }

    @Test("a shape mismatch names the tensor and both shapes")
    func mismatch() throws {
        var x = a
        let other = try Parameters([tensor("W", [4], [1, 2, 3, 4]), tensor("b", [2], [1, 1])])
        let error = #expect(throws: CoreError.self) { try x.add(other) }
        #expect(error == .shapeMismatch(tensor: "W", expected: [2, 2], actual: [4]))
        #expect(error?.description == "tensor 'W': shape [4] does not match [2, 2]")
        let renamed = try Parameters([tensor("V", [2, 2], [1, 2, 3, 4]), tensor("b", [2], [1, 1])])
        #expect(throws: CoreError.tensorSetMismatch(expected: ["W", "b"], actual: ["V", "b"])) { try x.add(renamed) }
        #expect(throws: CoreError.self) { try Tensor(name: "t", shape: [2, 3], values: [1, 2]) }
        #expect(!Parameters.allFiniteExample.allFinite)
    }
}

extension Parameters {
    static let allFiniteExample = try! Parameters([Tensor(name: "x", shape: [2], values: [1, .nan])])
}
