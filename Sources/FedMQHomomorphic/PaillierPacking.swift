/// Many quantized coordinates in one Paillier plaintext. Each value v, clipped to [-clip, clip],
/// becomes q = round((v + clip) · scale), an integer in 0...2·clip·scale; a slot holds
/// `slotBits` bits, enough for the sum of `cohort` such integers, so the slots of summed
/// ciphertexts never carry into each other. A plaintext holds as many slots as fit below n.
public struct PaillierPacking: Sendable, Equatable {
    public let clip: Double
    public let scale: Double
    /// The most updates whose sum the slots hold without overflow.
    public let cohort: Int
    public let slotBits: Int
    public let slotsPerPlaintext: Int
    /// The largest quantized value of one coordinate: 2 · clip · scale.
    let levels: UInt64

    /// Packing for a key of `keyBits` bits.
    public init(clip: Double, scale: Double, cohort: Int, keyBits: Int) throws(HomomorphicError) {
        guard clip > 0, clip.isFinite, scale >= 1, scale.isFinite, cohort >= 1 else {
            throw .invalidPacking("need clip > 0, scale >= 1 and cohort >= 1")
        }
        let levels = (2 * clip * scale).rounded(.up)
        // A slot must hold cohort x levels; both must stay well inside 64 bits.
        guard levels < 0x1p40, Double(cohort) * levels < 0x1p62 else {
            throw .invalidPacking("clip x scale x cohort is too large for a 62-bit slot")
        }
        let maximum = UInt64(levels) * UInt64(cohort)
        self.clip = clip
        self.scale = scale
        self.cohort = cohort
        self.levels = UInt64(levels)
        slotBits = 64 - maximum.leadingZeroBitCount
        // Plaintexts stay below n: at most keyBits - 1 bits.
        slotsPerPlaintext = (keyBits - 1) / slotBits
        guard slotsPerPlaintext >= 1 else { throw .invalidPacking("a \(slotBits)-bit slot does not fit a \(keyBits)-bit key") }
    }

    /// How many plaintexts (and ciphertexts) an update of `count` values takes.
    public func plaintexts(for count: Int) -> Int { (count + slotsPerPlaintext - 1) / slotsPerPlaintext }

    /// The quantized, offset values, packed `slotsPerPlaintext` to a plaintext (the first value in the lowest slot).
    public func pack(_ values: [Float]) -> [BigInteger] {
        stride(from: 0, to: values.count, by: slotsPerPlaintext).map { start in
            let chunk = values[start..<min(start + slotsPerPlaintext, values.count)]
            var bytes = [UInt8](repeating: 0, count: (chunk.count * slotBits + 7) / 8)
            for (slot, value) in chunk.enumerated() {
                let clipped = min(clip, max(-clip, Double(value.isFinite ? value : 0)))
                write(UInt64(((clipped + clip) * scale).rounded()), bits: slotBits, at: slot * slotBits, into: &bytes)
            }
            return BigInteger(bigEndian: bytes.reversed())
        }
    }

    /// The sums of `count` values from the decrypted sum of `updates` packed updates.
    public func unpack(_ sums: [BigInteger], count: Int, updates: Int) throws(HomomorphicError) -> [Double] {
        guard (1...cohort).contains(updates) else { throw .invalidPacking("\(updates) updates, but the slots hold sums of at most \(cohort)") }
        guard sums.count == plaintexts(for: count) else {
            throw .invalidPacking("\(sums.count) plaintexts for \(count) values (expected \(plaintexts(for: count)))")
        }
        var values: [Double] = []
        values.reserveCapacity(count)
        let limit = levels * UInt64(updates)
        for (index, sum) in sums.enumerated() {
            let slots = min(slotsPerPlaintext, count - index * slotsPerPlaintext)
            let bytes = Array(sum.bigEndianBytes().reversed())
            guard sum.bitWidth <= slots * slotBits else { throw .invalidPacking("plaintext \(index) has bits beyond its slots") }
            for slot in 0..<slots {
                let raw = read(bits: slotBits, at: slot * slotBits, from: bytes)
                guard raw <= limit else { throw .invalidPacking("slot \(slot) of plaintext \(index) exceeds what \(updates) updates can sum to") }
                values.append(Double(raw) / scale - Double(updates) * clip)
            }
        }
        return values
    }

    /// Writes `value`'s low `bits` bits at bit `offset` of a little-endian byte string.
    private func write(_ value: UInt64, bits: Int, at offset: Int, into bytes: inout [UInt8]) {
        for bit in 0..<bits where value >> UInt64(bit) & 1 == 1 {
            bytes[(offset + bit) / 8] |= 1 << UInt8((offset + bit) % 8)
        }
    }

    private func read(bits: Int, at offset: Int, from bytes: [UInt8]) -> UInt64 {
        var value: UInt64 = 0
        for bit in 0..<bits {
            let position = offset + bit
            guard position / 8 < bytes.count else { break }
            if bytes[position / 8] >> UInt8(position % 8) & 1 == 1 { value |= 1 << UInt64(bit) }
        }
        return value
    }
}
