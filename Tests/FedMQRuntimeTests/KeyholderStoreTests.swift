import FedMQCore
import FedMQHomomorphic
import FedMQProtocol
import Foundation
import Testing

@testable import FedMQKeyholder

@Suite("The key holder's state directory")
struct KeyholderStoreTests {
    @Test(
        "the key is made once (0600) and loaded the same after a restart; answered rounds survive it, and a restarted key holder decrypts no other aggregate for them"
    )
    func restart() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-keyholder-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try KeyholderStore(directory: directory)
        let first = try store.loadOrCreateKey(bits: 2048)
        #expect(first.created)
        let mode = try FileManager.default.attributesOfItem(atPath: store.keyPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try KeyholderStore(directory: directory).loadOrCreateKey(bits: 2048)
        #expect(!again.created && again.key.publicKey == first.key.publicKey && again.base == first.base)

        try store.saveAnswered([3: "aa", 4: "bb"], floor: 2)
        let (answered, floor) = try KeyholderStore(directory: directory).loadAnswered()
        #expect(answered == [3: "aa", 4: "bb"] && floor == 2)
        // What the restarted machine does with them: round 4 was answered for another request, round 2 is forgotten.
        let aggregator = SigningKey()
        var machine = try KeyholderStateMachine(
            job: "j", key: again.key, base: again.base, aggregator: aggregator.publicKey, agents: [:], minUpdates: 2, answered: answered,
            floor: floor)
        for round in [4, 2] {
            let payload = Array("not the answered request".utf8)
            let signature = aggregator.sign(SignedStatement.homomorphic("he-request", job: "j", round: round, payload: payload))
            let actions = machine.requestReceived(round: round, payload: payload, signature: signature)
            guard case .refused(_, let reason) = actions.first, actions.count == 1 else {
                Issue.record("round \(round): \(actions)")
                continue
            }
            #expect(reason.contains(round == 4 ? "decrypted once already" : "older than the rounds"), "\(reason)")
        }
    }
}
