import FedMQCore
import Testing

/// Top-k positions as a bitmap: exact round trips, the size rule, and hostile bitmaps refused
/// before any position is listed.
@Suite("Top-k positions as bitmaps")
struct SparseBitmapTests {
    let model = try! Parameters([
        Tensor(name: "W", shape: [64], values: (0..<64).map { Float($0 % 7) - 3 }),
        Tensor(name: "b", shape: [400], values: (0..<400).map { Float($0) }),
    ])

    @Test("a bitmap lists back exactly the positions it was made of, over 500 random sets")
    func roundTrips() {
        var random = SplitMix64(seed: 11)
        for _ in 0..<500 {
            let count = Int(random.next() % 300) + 1
            let indices = (0..<count).filter { _ in random.next() % 4 == 0 }.map(UInt32.init)
            let bitmap = SparseIndexBitmap.bitmap(of: indices)
            #expect(SparseIndexBitmap.indices(of: bitmap) == indices)
            #expect(bitmap.count == (indices.last.map { Int($0) / 8 + 1 } ?? 0))
        }
        #expect(SparseIndexBitmap.bitmap(of: [0, 9]) == [0b0000_0001, 0b0000_0010])
    }

    @Test("a bitmap is chosen only for ascending indices, and only when it is smaller than 4 bytes an index")
    func sizeRule() {
        #expect(!SparseIndexBitmap.isPreferred(for: []))
        #expect(!SparseIndexBitmap.isPreferred(for: [255]))  // 32 bytes against 4
        #expect(!SparseIndexBitmap.isPreferred(for: [30]))  // 4 bytes against 4: not smaller
        #expect(SparseIndexBitmap.isPreferred(for: [3, 30]))  // 4 bytes against 8
        // Out of order or repeated, a bitmap would hand the values to other positions.
        #expect(!SparseIndexBitmap.isPreferred(for: [30, 3]))
        #expect(!SparseIndexBitmap.isPreferred(for: [3, 3, 30]))
        #expect(SparseIndexBitmap.bitmap(of: [30, 3]) == SparseIndexBitmap.bitmap(of: [3, 30]))
    }

    @Test("with bitmaps a file sends each tensor's positions the smaller way and decodes back exactly")
    func encodesTheSmallerWay() throws {
        // W keeps half its entries (bitmap: 8 bytes, indices: 128); b keeps one (indices: 4 bytes, bitmap: 50).
        var kept = model.topK(fraction: 0.5)
        kept.tensors[1] = SparseTensor(name: "b", indices: [399], values: [399])
        let bytes = SafetensorsEncoder.encode(sparse: kept, bitmaps: true)
        let file = try SafetensorsDecoder.decode(bytes)
        #expect(file.blobs.keys.sorted() == ["W.bitmap"])
        #expect(file.indices.keys.sorted() == ["b.indices"])
        #expect(try file.sparseParameters(orderedAs: ["W", "b"]) == kept)
        let withIndices = SafetensorsEncoder.encode(sparse: kept)
        #expect(try SafetensorsDecoder.decode(withIndices).blobs.isEmpty)
        #expect(bytes.count < withIndices.count - 100)
    }

    @Test(
        "a bitmap that marks more or fewer positions than values, sits beside indices, has two dimensions or reaches past the tensor is refused",
        arguments: ["more", "fewer", "beside indices", "2-D", "past the end"])
    func refusesHostileBitmaps(kind: String) throws {
        var file = try SafetensorsDecoder.decode(SafetensorsEncoder.encode(sparse: model.topK(fraction: 0.5), bitmaps: true))
        var bitmap = try #require(file.blobs["W.bitmap"])
        let expected: CoreError
        switch kind {
        case "more":
            bitmap.bytes[bitmap.bytes.count - 1] = 0xFF
            expected = .invalidSparseTensor(
                tensor: "W", reason: "its bitmap marks \(bitmap.bytes.reduce(0) { $0 + $1.nonzeroBitCount }) positions for 32 values")
        case "fewer":
            bitmap.bytes = [UInt8](repeating: 0, count: bitmap.bytes.count)
            expected = .invalidSparseTensor(tensor: "W", reason: "its bitmap marks 0 positions for 32 values")
        case "beside indices":
            file.indices["W.indices"] = Array(0..<32)
            expected = .tensorSetMismatch(expected: ["W", "b", "W.indices", "b.bitmap"], actual: ["W", "b", "W.indices", "W.bitmap", "b.bitmap"])
        case "2-D":
            bitmap.shape = [2, bitmap.bytes.count / 2]
            expected = .invalidSparseTensor(tensor: "W", reason: "its bitmap must be a 1-D tensor")
        default:
            // The same 32 positions, moved 8 bytes on: the last ones fall past W's 64 entries.
            bitmap.bytes = [UInt8](repeating: 0, count: 8) + bitmap.bytes
            expected = .invalidSparseTensor(tensor: "W", reason: "index 64 is outside its 64 entries")
        }
        file.blobs["W.bitmap"] = bitmap
        #expect(throws: expected) { try file.sparseParameters(orderedAs: ["W", "b"]).densified(like: model) }
    }
}
