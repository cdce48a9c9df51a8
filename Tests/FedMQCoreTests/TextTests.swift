import FedMQCore
import Foundation
import Testing

/// The text helpers that stand in for Foundation's in the device binaries: they must give
/// what Foundation gave, since messages and CSV cells go through them.
@Suite("Text without Foundation")
struct TextTests {
    @Test("trimmingSpaces trims spaces and tabs (no-break spaces too) and keeps line breaks, as .whitespaces did")
    func spaces() {
        let samples = [" \t a b \u{00A0}", "\n a \n", "", "   ", "x", " é ", "\u{2003}wide\u{2003}"]
        for sample in samples {
            #expect(sample.trimmingSpaces() == sample.trimmingCharacters(in: .whitespaces), "\(sample.debugDescription)")
        }
        #expect(" \t a b \u{00A0}".trimmingSpaces() == "a b")
        #expect("\n a \n".trimmingSpaces() == "\n a \n")
    }

    @Test("trimmingWhitespace also trims line breaks, as .whitespacesAndNewlines did")
    func whitespace() {
        for sample in ["\r\n key \n", "\u{2028}k\u{85}", " \t", "a\nb"] {
            #expect(sample.trimmingWhitespace() == sample.trimmingCharacters(in: .whitespacesAndNewlines), "\(sample.debugDescription)")
        }
        #expect("\r\n key \n".trimmingWhitespace() == "key")
    }

    @Test("PrintfFormat writes what String(format:) wrote, also past its first buffer")
    func printf() {
        #expect(PrintfFormat.string("%.3g", 1234.5) == "1.23e+03")
        #expect(PrintfFormat.string("%.6g", 0.1) == "0.1")
        #expect(PrintfFormat.string("%.3f", 2.0) == String(format: "%.3f", 2.0))
        #expect(PrintfFormat.string("\\u%04x", UInt32(0x1f)) == "\\u001f")
        let wide = PrintfFormat.string("%300d", 7)
        #expect(wide.count == 300 && wide.hasSuffix(" 7"))
    }

    @Test("ErrorText names a file error by its cause and a decoding error by its path")
    func errors() {
        let missing = #expect(throws: (any Error).self) { try Data(contentsOf: URL(fileURLWithPath: "/nonexistent/fedmq")) }
        #expect(missing.map(ErrorText.describe) == "No such file or directory")

        struct Settings: Decodable { var rounds: Int }
        let wrong = #expect(throws: (any Error).self) { try JSONDecoder().decode(Settings.self, from: Data(#"{"rounds": "x"}"#.utf8)) }
        #expect(wrong.map(ErrorText.describe)?.hasPrefix("at rounds: ") == true, "\(String(describing: wrong))")
    }
}
