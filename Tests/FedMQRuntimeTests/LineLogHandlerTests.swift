import Glibc
import Logging
import Synchronization
import Testing

@testable import FedMQCommandLine

@Suite("The log handler: swift-log's StreamLogHandler lines, written more cheaply")
struct LineLogHandlerTests {
    /// Collects what a `StreamLogHandler` writes.
    final class Collected: TextOutputStream, Sendable {
        let text = Mutex("")
        func write(_ string: String) { text.withLock { $0 += string } }
    }

    @Test("timestamps read as strftime's %Y-%m-%dT%H:%M:%S%z in local time, across years, months and the zone's offsets")
    func timestamps() {
        var seconds: time_t = 0
        // From 1970 to about 2100, in uneven steps that land on every month, hour and second.
        while seconds < 4_100_000_000 {
            var clock = seconds
            var local = tm()
            var buffer = [CChar](repeating: 0, count: 64)
            #expect(localtime_r(&clock, &local) != nil)
            let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
            let expected = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            #expect(LineLogHandler.timestamp(seconds: seconds) == expected)
            seconds += 2_654_435 + seconds % 7919
        }
    }

    @Test("a line matches StreamLogHandler's after the timestamp: level, label, sorted metadata with the error's, source, message")
    func lineLayout() {
        struct Failure: Error, CustomStringConvertible { var description: String { "disk full" } }
        var line = LineLogHandler(label: "fedmq.agent")
        line.metadata = ["job": "j", "zone": "base"]
        let collected = Collected()
        var stream = StreamLogHandler(label: "fedmq.agent", stream: collected, metadataProvider: nil)
        stream.metadata = line.metadata
        let events = [
            LogEvent(
                level: .info, message: "published update", metadata: ["round": "3", "bytes": "9640", "zone": "explicit"],
                source: "FedMQAgent", file: #fileID, function: #function, line: #line),
            LogEvent(
                level: .warning, message: "could not save", error: Failure(), metadata: nil, source: "FedMQRuntime", file: #fileID,
                function: #function, line: #line),
            LogEvent(level: .notice, message: "shutting down", metadata: nil, source: "Agent", file: #fileID, function: #function, line: #line),
        ]
        var lines: [String] = []
        for event in events {
            stream.log(event: event)
            lines.append(line.line(event, at: 0))
        }
        func afterTimestamp(_ text: Substring) -> Substring { text.drop { $0 != " " } }
        let expected = collected.text.withLock { $0 }.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(expected.count == 3)
        #expect(lines.map { afterTimestamp($0.dropLast()) } == expected.map(afterTimestamp))
        #expect(lines[0].hasSuffix(" info fedmq.agent: bytes=9640 job=j round=3 zone=explicit [FedMQAgent] published update\n"))
        #expect(lines[1].contains("error.message=disk full"))
    }
}
