import Glibc

/// C's printf formatting (`"%.3g"`, `"%04x"`), which the device binaries need without
/// Foundation's `String(format:)`.
public enum PrintfFormat {
    /// `arguments` written as `vsnprintf` writes them under `format`.
    public static func string(_ format: String, _ arguments: any CVarArg...) -> String {
        var capacity = 64
        while true {
            var buffer = [CChar](repeating: 0, count: capacity)
            let written = withVaList(arguments) { vsnprintf(&buffer, capacity, format, $0) }
            guard written >= 0 else { return "" }
            if Int(written) < capacity {
                return String(decoding: buffer.prefix(Int(written)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            capacity = Int(written) + 1
        }
    }
}
