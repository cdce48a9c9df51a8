/// A sparse tensor's positions as a bitmap: bit j of byte i (least significant first) marks
/// position 8i + j, up to the byte holding the last position. Smaller than 32-bit indices
/// once more than one entry in 32 is kept (`isPreferred`).
public enum SparseIndexBitmap {
    /// The bitmap of the positions `indices` name (in any order; it lists them ascending).
    public static func bitmap(of indices: [UInt32]) -> [UInt8] {
        guard let highest = indices.max() else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(highest) / 8 + 1)
        for index in indices { bytes[Int(index) / 8] |= 1 << (index % 8) }
        return bytes
    }

    /// The positions `bitmap` marks, ascending.
    public static func indices(of bitmap: [UInt8]) -> [UInt32] {
        var indices: [UInt32] = []
        indices.reserveCapacity(bitmap.reduce(0) { $0 + $1.nonzeroBitCount })
        for (byteIndex, byte) in bitmap.enumerated() where byte != 0 {
            var bits = byte
            while bits != 0 {
                indices.append(UInt32(byteIndex * 8 + bits.trailingZeroBitCount))
                bits &= bits - 1
            }
        }
        return indices
    }

    /// Whether `indices` should go as a bitmap: they are strictly ascending (a bitmap gives
    /// its positions back in that order only, and the values follow the indices) and their
    /// bitmap takes fewer bytes than they do as U32.
    public static func isPreferred(for indices: [UInt32]) -> Bool {
        guard let last = indices.last, zip(indices, indices.dropFirst()).allSatisfy({ $0 < $1 }) else { return false }
        return Int(last) / 8 + 1 < 4 * indices.count
    }
}
