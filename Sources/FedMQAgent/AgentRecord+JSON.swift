import FedMQCore
import FedMQProtocol

/// An agent writes its record every round it serves: written by hand, keys in sorted order.
/// A record with privacy events in its ledger is left to `JSONEncoder`.
extension AgentRecord: HandWrittenJSON {
    func writtenJSON() -> [UInt8]? {
        guard ledger.isEmpty else { return nil }
        var writer = JSONWriter()
        var finite = true
        writer.object { json in
            json.member("job", job)
            json.member("last_served_round", lastServedRound)
            json.member("last_update_published_during", lastUpdatePublishedDuring)
            json.member("last_update_signature", lastUpdateSignature)
            json.key("ledger")
            json.array { _ in }
            json.key("publish_times")
            json.array { json in
                for time in publishTimes { finite = finite && json.double(time) }
            }
        }
        return finite ? writer.bytes : nil
    }
}
