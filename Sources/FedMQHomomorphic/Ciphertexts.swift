/// Ciphertexts as fixed-width big-endian byte strings: each takes the bytes of n², so a list
/// of them is a [count, width] byte matrix (a U8 tensor in safetensors).
public enum Ciphertexts {
    /// The bytes one ciphertext of `key` takes.
    public static func width(_ key: PaillierPublicKey) -> Int { (key.nSquared.bitWidth + 7) / 8 }

    /// `values`, each padded to `width(key)` bytes, one after another.
    public static func bytes(_ values: [BigInteger], key: PaillierPublicKey) -> [UInt8] {
        let width = width(key)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * width)
        for value in values { bytes += value.bigEndianBytes(minimumCount: width) }
        return bytes
    }

    /// The ciphertexts in `bytes`, checked to be `count` valid ciphertexts of `key` (within
    /// 1..<n² and invertible modulo n): anything else is refused, never multiplied in.
    public static func parse(_ bytes: [UInt8], count: Int, key: PaillierPublicKey) throws(HomomorphicError) -> [BigInteger] {
        let width = width(key)
        guard count >= 0, bytes.count == count * width else {
            throw .invalidCiphertext("\(bytes.count) bytes are not \(count) ciphertexts of \(width) bytes")
        }
        var values: [BigInteger] = []
        values.reserveCapacity(count)
        for index in 0..<count {
            let value = BigInteger(bigEndian: Array(bytes[index * width..<(index + 1) * width]))
            guard key.isCiphertext(value) else { throw .invalidCiphertext("ciphertext \(index) is not one of this key") }
            values.append(value)
        }
        return values
    }

    /// The product of two equally long lists modulo n²: the encryption of their sums.
    public static func add(_ a: [BigInteger], _ b: [BigInteger], key: PaillierPublicKey) -> [BigInteger] {
        zip(a, b).map { key.add($0, $1) }
    }
}
