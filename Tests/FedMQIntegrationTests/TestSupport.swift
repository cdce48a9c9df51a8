import FedMQLocalBroker
import FedMQTransport
import Foundation
import Testing

/// Options for a client of `broker`'s plain listener, with quick reconnects for tests.
func clientOptions(_ broker: LocalBroker, id: String? = nil) -> ConnectionOptions {
    ConnectionOptions(
        host: "127.0.0.1", port: broker.port, clientID: id, connectTimeout: .seconds(10),
        reconnect: ReconnectPolicy(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(500)))
}

func connectedClient(_ options: ConnectionOptions) async throws -> MQTTClient {
    let client = try MQTTClient(options: options)
    try await client.connect()
    return client
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `operation`, failing with `TimedOut` if it has not finished within `limit`. A guard
/// against hangs, not a timing assertion.
func within<Result: Sendable>(
    _ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut(what: what)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TimedOut(what: what) }
        return first
    }
}

/// The next `count` messages of a subscription. The limit, like every wait's here, is a guard
/// against a hang, generous because CPU-heavy suites share this process's few threads.
func messages(_ subscription: MQTTSubscription, count: Int, within limit: Duration = .seconds(60)) async throws
    -> [MQTTMessage]
{
    try await within(limit, "\(count) message(s) on \(subscription.filters)") {
        var received: [MQTTMessage] = []
        for await message in subscription {
            received.append(message)
            if received.count == count { break }
        }
        return received
    }
}

/// Waits for the first event that satisfies `predicate`.
func event(
    _ events: AsyncStream<ConnectionEvent>, within limit: Duration = .seconds(60),
    where predicate: @escaping @Sendable (ConnectionEvent) -> Bool
) async throws -> ConnectionEvent {
    try await within(limit, "a connection event") {
        for await event in events where predicate(event) { return event }
        throw TimedOut(what: "a connection event (the sequence ended)")
    }
}

/// The `fedmq` executable built beside this test bundle.
func fedmqExecutable() throws -> URL {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("fedmq")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory.deleteLastPathComponent()
    }
    throw TimedOut(what: "the fedmq executable next to \(CommandLine.arguments[0])")
}

extension Array where Element == UInt8 {
    /// Deterministic bytes that differ from position to position (not all zero).
    static func pattern(count: Int, seed: UInt8 = 7) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ ($0 >> 8)) }
    }
}

/// Polls `condition` on a thread of its own every `interval` and runs `action` on that thread
/// the moment it holds. The test process runs many suites at once on a small pool of threads,
/// which can keep an async test waiting for seconds; a fault placed on an observed event must
/// land right after it, not whenever the pool gets to it.
func pollOnOwnThread(
    _ what: String, within limit: Duration = .seconds(120), every interval: Duration = .milliseconds(2),
    until condition: @escaping @Sendable () -> Bool, then action: @escaping @Sendable () -> Void
) async throws {
    let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) * 1e-18
    let pause = useconds_t(max(1, interval.components.attoseconds / 1_000_000_000_000))
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let thread = Thread {
            let deadline = Date().addingTimeInterval(seconds)
            while !condition() {
                if Date() > deadline {
                    continuation.resume(throwing: TimedOut(what: what))
                    return
                }
                usleep(pause)
            }
            action()
            continuation.resume()
        }
        thread.start()
    }
}

/// Runs a program to its end (at most `limit`), its output to `log`; returns its exit status and
/// what it wrote.
func runToEnd(
    _ executable: String, _ arguments: [String], log: String, environment: [String: String]? = nil, within limit: Duration = .seconds(120)
) async throws -> (status: Int32, output: String) {
    let child = try ChildProcess(executable, arguments, logFile: log, environment: environment)
    let status = try await within(limit, executable) { try await child.wait() }
    return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
}

/// Processes whose command line mentions `text` (a test's own folder), as `ps` would list them.
func processes(mentioning text: String) -> [String] {
    processTable(mentioning: text).map(\.commandLine)
}

/// The ids and command lines of the processes whose command line mentions `text`.
func processTable(mentioning text: String) -> [(pid: String, commandLine: String)] {
    let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return pids.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        return line.contains(text) ? (pid, line) : nil
    }
}

/// What process `pid`'s open descriptors above standard error point to (`socket:[…]`, paths).
func openDescriptors(of pid: String) -> [String] {
    let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
    return descriptors.filter { (Int($0) ?? 0) > 2 }.compactMap {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
    }
}

/// TCP states as `/proc/net/tcp` numbers them.
enum TCPState {
    static let established = 1
}

/// This network namespace's IPv4 connections to `port` on the loopback address: local port ->
/// TCP state, as the kernel lists them in `/proc/net/tcp`.
func loopbackConnections(toPort port: Int) -> [Int: Int] {
    // Read to its end: the kernel makes the table a page at a time, and a reader that trusts
    // the file's size (zero) or a single read gets part of it.
    guard let data = try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/net/tcp")).readToEnd() else { return [:] }
    let table = String(decoding: data, as: UTF8.self)
    var connections: [Int: Int] = [:]
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 3 else { continue }
        let (local, remote) = (fields[1].split(separator: ":"), fields[2].split(separator: ":"))
        guard local.count == 2, remote.count == 2, remote[0] == "0100007F", Int(remote[1], radix: 16) == port,
            let localPort = Int(local[1], radix: 16), let state = Int(fields[3], radix: 16)
        else { continue }
        connections[localPort] = state
    }
    return connections
}
