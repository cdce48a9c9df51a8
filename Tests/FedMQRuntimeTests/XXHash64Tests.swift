import FedMQRuntime
import Testing

@Suite("XXH64, the spool log's checksum")
struct XXHash64Tests {
    /// Published XXH64 values (seed 0): every tail length, one and several 32-byte stripes.
    @Test("matches the reference digests of xxHash")
    func referenceDigests() {
        let cases: [(String, UInt64)] = [
            ("", 0xEF46_DB37_51D8_E999),
            ("abc", 0x44BC_2CF5_AD77_0999),
            ("123456789", 0x8CB8_41DB_40E6_AE83),
            ("123456789ABCDEF1", 0x2FF1_4A98_41F5_4CC3),
            ("123456789ABCDEF123456789ABCDEF1", 0x107D_C0D6_700D_877B),
            ("123456789ABCDEF123456789ABCDEF12", 0xC5B0_9BEB_B8CD_6667),
            ("123456789ABCDEF123456789ABCDEF123456789", 0xC42D_1E34_8E67_1D65),
            (String(repeating: "123456789ABCDEF", count: 6), 0x098D_CB2F_96B6_84FD),
        ]
        for (text, digest) in cases {
            #expect(XXHash64.hash(Array(text.utf8)) == digest, "\(text)")
        }
        #expect(XXHash64.hash([UInt8](repeating: 0xFF, count: 100 * 1024)) == 0x2F1B_B6AA_5D0C_ABCC)
    }

    @Test("an array slice hashes as its own bytes")
    func slices() {
        let bytes = Array("xx123456789ABCDEF123456789ABCDEF123456789yy".utf8)
        #expect(XXHash64.hash(bytes[2..<41]) == 0xC42D_1E34_8E67_1D65)
    }
}
