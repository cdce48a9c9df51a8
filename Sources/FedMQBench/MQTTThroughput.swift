import FedMQCommandLine
import FedMQLocalBroker
import FedMQTransport
import Foundation

struct MQTTWorkload {
    var count: Int
    var size: Int

    var label: String { size >= 1 << 20 ? "\(count)x\(size >> 20)MiB" : "\(count)x\(size >> 10)KiB" }
    /// Text payloads can go through `mosquitto_pub -l` (faster); binary ones need `-f --repeat`.
    var usesLines: Bool { size < 1 << 20 }
    var peerMode: String { usesLines ? "`-l`" : "`-f --repeat`" }

    /// Printable bytes, so the same payload works as a line for `mosquitto_pub -l`.
    var payload: [UInt8] { (0..<size).map { UInt8(65 + $0 % 26) } }
}

enum BenchError: Error, CustomStringConvertible {
    case peerFailed(String)
    case incomplete(String)

    var description: String {
        switch self {
        case .peerFailed(let text), .incomplete(let text): text
        }
    }
}

/// One measurement of each side for one workload; returns elapsed seconds.
struct MQTTThroughput {
    let broker: LocalBroker
    let workload: MQTTWorkload
    let run: Int

    func measureFedMQ(window: Int) async throws -> Double {
        let topic = "bench/fedmq/\(workload.label)/\(run)"
        let options = ConnectionOptions(port: broker.port)
        let subscriber = try MQTTClient(options: options)
        try await subscriber.connect()
        let subscription = try await subscriber.subscribe(to: [topic], qos: .atLeastOnce)
        let payload = workload.payload
        let (count, window) = (workload.count, max(1, min(window, workload.count)))
        let clock = ContinuousClock()
        let start = clock.now
        let receiver = Task {
            var received = 0
            for await message in subscription where message.payload.count == payload.count {
                received += 1
                if received == count { break }
            }
            return received
        }
        let publisher = try MQTTClient(options: options)
        try await publisher.connect()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<window {
                group.addTask {
                    for _ in stride(from: worker, to: count, by: window) {
                        try await publisher.publish(topic, payload: payload, qos: .atLeastOnce)
                    }
                }
            }
            try await group.waitForAll()
        }
        // The broker drops QoS 1 messages for a subscriber whose queue is full
        // (max_queued_messages), so wait with a bound instead of forever.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(120))
            subscription.cancel()
        }
        let received = await receiver.value
        let elapsed = clock.now - start
        watchdog.cancel()
        await publisher.disconnect()
        await subscriber.disconnect()
        guard received == count else {
            throw BenchError.incomplete("FedMQ subscriber got \(received) of \(count) messages within 120 s (broker queue limit?)")
        }
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    func measurePeer() async throws -> Double {
        let topic = "bench/c/\(workload.label)/\(run)"
        let clientID = "bench-sub-\(run)-\(workload.count)"
        let directory = broker.directory
        let log = directory.appendingPathComponent("peer.log").path
        let subscriber = try ChildProcess(
            try Programs.path(of: "mosquitto_sub"),
            ["-p", "\(broker.port)", "-i", clientID, "-t", topic, "-q", "1", "-C", "\(workload.count)"], logFile: "/dev/null")
        // The broker logs "<client id> 1 <topic>" once the subscription is in place.
        let marker = "\(clientID) 1 \(topic)"
        var polls = 0
        while polls < 1000 && !broker.logTail(lines: 50).contains(marker) {
            try await Task.sleep(for: .milliseconds(5))
            polls += 1
        }
        guard broker.logTail(lines: 200).contains(marker) else {
            await subscriber.stop()
            throw BenchError.peerFailed("mosquitto_sub did not subscribe")
        }
        let arguments: [String]
        let payloadFile = directory.appendingPathComponent("payload-\(workload.label)").path
        if workload.usesLines {
            let line = String(decoding: workload.payload, as: UTF8.self) + "\n"
            try String(repeating: line, count: workload.count).write(toFile: payloadFile, atomically: true, encoding: .utf8)
            arguments = ["-c", "exec mosquitto_pub -p \(broker.port) -t '\(topic)' -q 1 -l < '\(payloadFile)'"]
        } else {
            try Data(workload.payload).write(to: URL(fileURLWithPath: payloadFile))
            arguments = ["-c", "exec mosquitto_pub -p \(broker.port) -t '\(topic)' -q 1 -f '\(payloadFile)' --repeat \(workload.count)"]
        }
        let clock = ContinuousClock()
        let start = clock.now
        let publisher = try ChildProcess("/bin/sh", arguments, logFile: log)
        let subscriberStatus = try await subscriber.wait()
        let elapsed = clock.now - start
        let publisherStatus = try await publisher.wait()
        guard subscriberStatus == 0, publisherStatus == 0 else {
            throw BenchError.peerFailed("C tools exited with \(subscriberStatus)/\(publisherStatus); see \(log)")
        }
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }
}
