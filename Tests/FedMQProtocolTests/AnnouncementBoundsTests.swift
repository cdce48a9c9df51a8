import FedMQCore
import FedMQProtocol
import Foundation
import Testing

/// Announcements come from the network: every number an agent computes with is bounded.
@Suite("Round announcement bounds")
struct AnnouncementBoundsTests {
    func decoded(_ change: (inout [String: Any]) -> Void) throws -> Result<RoundAnnouncement, ProtocolError> {
        let machine = Fixture.machine()
        var object = try #require(try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(machine.announcement))) as? [String: Any])
        change(&object)
        let bytes = Array(try JSONSerialization.data(withJSONObject: object))
        do throws(ProtocolError) {
            return .success(try ProtocolJSON.decode(RoundAnnouncement.self, from: bytes))
        } catch {
            return .failure(error)
        }
    }

    @Test(
        "numbers that would trap an agent's arithmetic are refused by name",
        arguments: [
            ("round", 3_000_000_000_000.0), ("deadline", 1e300), ("opened_at", -5.0), ("extensions", -1.0),
            ("target_updates", 1e15),
        ])
    func refusedTopLevel(field: String, value: Double) throws {
        let result = try decoded { $0[field] = value }
        guard case .failure(let error) = result else {
            Issue.record("\(field) = \(value) was accepted")
            return
        }
        #expect("\(error)".contains("fedmq.round/1"))
    }

    @Test("training settings that would overflow a step count are refused", arguments: [("epochs", 1e12), ("batch_size", 1e12)])
    func refusedTraining(field: String, value: Double) throws {
        let result = try decoded { object in
            var training = object["training"] as? [String: Any] ?? [:]
            training[field] = value
            object["training"] = training
        }
        #expect({ if case .failure = result { true } else { false } }(), "\(field) = \(value)")
        let tiny = try decoded { object in
            var training = object["training"] as? [String: Any] ?? [:]
            training["dp_sgd"] = ["clip_norm": 1, "noise_multiplier": 1, "sampling_rate": 1e-300]
            object["training"] = training
        }
        #expect({ if case .failure = tiny { true } else { false } }())
    }

    @Test("message expiry is clamped to 1...UInt32.max whatever the clocks say")
    func expiry() {
        #expect(MessageExpiry.seconds(until: 1e11, now: 0) == UInt32.max)
        #expect(MessageExpiry.seconds(until: 0, now: 1e11) == 1)
        #expect(MessageExpiry.seconds(until: .infinity, now: 0) == UInt32.max)
        #expect(MessageExpiry.seconds(until: .nan, now: 0) == 1)
        #expect(MessageExpiry.seconds(until: 100.2, now: 40) == 61)
    }
}
