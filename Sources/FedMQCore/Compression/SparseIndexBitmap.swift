/// A sparse tensor's positions as a bitmap: bit j of byte i (least significant first) marks
/// position 8i + j, up to the byte holding the last position. Smaller than 32-bit indices
/// once more than one entry in 32 is kept (`isSmaller`).
public enum SparseIndexBitmap {
    /// The bitmap of strictly ascending `indices`.
    public static func bitmap(of indices: [UInt32]) -> [UInt8] {
        guard let last = indices.last else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(last) / 8 + 1)
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

    /// Whether the bitmap of `indices` takes fewer bytes than the indices as U32.
    public static func isSmaller(for indices: [UInt32]) -> Bool {
        guard let last = indices.last else { return false }
        return Int(last) / 8 + 1 < 4 * indices.count
    }
}
