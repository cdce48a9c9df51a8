/// The quick way through a safetensors header: one pass over the bytes for the JSON that
/// FedMQ and other tools write (an object of tensor entries whose fields are strings and lists
/// of whole numbers, and a metadata object of strings). Anything else it leaves to
/// `JSONDecoder` by returning nil: other JSON values, duplicate keys, malformed JSON. Where it
/// answers, its answer is the one `JSONDecoder` gives, which `SafetensorsHeaderTests` checks on
/// thousands of damaged headers. It exists for speed: an agent reads a header every round and
/// the aggregator one per update, and `JSONDecoder` took 5% and 7.5% of their CPU.
enum SafetensorsHeaderScanner {
    /// The header in `bytes`, or nil when it is not in the subset this scanner reads.
    static func scan(_ bytes: ArraySlice<UInt8>) -> SafetensorsHeader? {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            return header(&scanner)
        }
    }

    private static func header(_ scanner: inout JSONScanner) -> SafetensorsHeader? {
        var metadata = SafetensorsHeader.RawMetadata.absent
        var entries: [(name: String, entry: SafetensorsHeader.RawEntry)] = []
        var names: Set<String> = []
        let complete = scanner.object { name, scanner in
            guard names.insert(name).inserted else { return false }
            if name == "__metadata__" {
                guard let values = Self.metadata(&scanner) else { return false }
                metadata = .values(values)
            } else {
                guard let entry = Self.entry(&scanner) else { return false }
                entries.append((name, entry))
            }
            return true
        }
        guard complete, scanner.atEnd() else { return nil }
        return SafetensorsHeader(metadata: metadata, entries: entries)
    }

    /// A metadata object whose values are all strings.
    private static func metadata(_ scanner: inout JSONScanner) -> [String: String]? {
        var values: [String: String] = [:]
        let complete = scanner.object { key, scanner in
            guard values[key] == nil, let value = scanner.string() else { return false }
            values[key] = value
            return true
        }
        return complete ? values : nil
    }

    /// A tensor entry: an object whose fields are strings or lists of whole numbers; the
    /// three fields the decoder reads are kept when they have the type it wants.
    private static func entry(_ scanner: inout JSONScanner) -> SafetensorsHeader.RawEntry? {
        var entry = SafetensorsHeader.RawEntry()
        entry.isObject = true
        var keys: Set<String> = []
        let complete = scanner.object { key, scanner in
            guard keys.insert(key).inserted else { return false }
            if scanner.peekValue() == UInt8(ascii: "\"") {
                guard let text = scanner.string() else { return false }
                if key == "dtype" { entry.dtype = text }
            } else {
                guard let numbers = wholeNumbers(&scanner) else { return false }
                if key == "shape" { entry.shape = numbers }
                if key == "data_offsets" { entry.dataOffsets = numbers }
            }
            return true
        }
        return complete ? entry : nil
    }

    /// `[n, ...]` of whole numbers from 0 to 10^15 written plainly (no sign, fraction or
    /// exponent), as doubles (exact at that size), as `JSONDecoder` gives them.
    private static func wholeNumbers(_ scanner: inout JSONScanner) -> [Double]? {
        var numbers: [Double] = []
        let complete = scanner.array { scanner in
            guard scanner.peekValue() != UInt8(ascii: "-"), let value = scanner.integer(), value < 1_000_000_000_000_000 else { return false }
            numbers.append(Double(value))
            return true
        }
        return complete ? numbers : nil
    }
}
