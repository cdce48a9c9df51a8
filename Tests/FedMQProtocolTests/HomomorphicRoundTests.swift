import FedMQCore
import FedMQHomomorphic
import FedMQProtocol
import Testing

/// One 2048-bit key for every test here (generation takes a moment).
private let paillier: (key: PaillierPrivateKey, base: BigInteger) = {
    var random = SplitMix64(seed: 2048)
    let key = try! PaillierPrivateKey.generate(bits: 2048, using: &random)
    return (key, key.fastEncryptionBase(using: &random))
}()

/// Homomorphic rounds through the agents', the aggregator's and the key holder's state
/// machines, messages signed and routed in memory.
@Suite("Homomorphic rounds: encrypted updates, a key holder that decrypts only aggregates")
struct HomomorphicRoundTests {
    let names = ["a1", "a2", "a3", "a4"]
    let identities: [String: SigningKey]
    let aggregatorIdentity = SigningKey()
    let keyholderIdentity = SigningKey()
    let settings = HomomorphicSettings(clip: 1, scale: 65536, decryptSeconds: 30)

    init() {
        identities = Dictionary(uniqueKeysWithValues: names.map { ($0, SigningKey()) })
    }

    var policy: RoundPolicy {
        var policy = Fixture.policy
        policy.normBound = nil
        policy.allowedAgents = names
        policy.homomorphic = settings
        return policy
    }

    func keyholder(minUpdates: Int = 2) throws -> KeyholderStateMachine {
        try KeyholderStateMachine(
            job: Fixture.job, key: paillier.key, base: paillier.base, aggregator: aggregatorIdentity.publicKey,
            agents: identities.mapValues(\.publicKey), minUpdates: minUpdates)
    }

    func aggregator() throws -> AggregatorStateMachine {
        try AggregatorStateMachine(
            job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000,
            signers: identities.mapValues(\.publicKey), keyholder: keyholderIdentity.publicKey, random: SplitMix64(seed: 1))
    }

    /// The key holder's key message and its signature.
    func keyMessage(_ keyholder: KeyholderStateMachine) -> (payload: [UInt8], signature: String) {
        guard case .publishKey(let payload) = keyholder.startActions().first else { fatalError("no key") }
        return (payload, keyholderIdentity.sign(SignedStatement.homomorphic("he-key", job: Fixture.job, round: 0, payload: payload)))
    }

    func delta(_ index: Int) -> Parameters { Fixture.delta(0.01 * Float(index + 1) - 0.02) }

    /// Agents `senders` train round 1 (delta(i) each) and publish encrypted, signed updates.
    func updates(from senders: [String], key: (payload: [UInt8], signature: String), aggregator: AggregatorStateMachine) throws
        -> [(agent: String, payload: [UInt8], signature: String?)]
    {
        var published: [(agent: String, payload: [UInt8], signature: String?)] = []
        for name in senders {
            let index = names.firstIndex(of: name)!
            var agent = try AgentStateMachine(
                agent: name, job: Fixture.job, lastServedRound: 0, identity: identities[name], enrolment: identities.mapValues(\.publicKey),
                keyholder: keyholderIdentity.publicKey, random: SplitMix64(seed: UInt64(index)))
            _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
            let waiting = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
            #expect(!waiting.contains { if case .train = $0 { true } else { false } }, "no training before the key holder's key")
            let started = agent.homomorphicKeyReceived(key.payload, signature: key.signature, now: 1001)
            #expect(started.contains { if case .train = $0 { true } else { false } })
            var trained = Fixture.initial
            try trained.add(delta(index))
            for action in agent.trainingFinished(round: 1, trained: trained, examples: 10, now: 1002) {
                if case .publishUpdate(_, let payload, _, let signature) = action { published.append((name, payload, signature)) }
            }
        }
        return published
    }

    /// Agents `senders` train round 1 and their updates reach `aggregator`; what it answered.
    func deliver(from senders: [String], key: (payload: [UInt8], signature: String), to aggregator: inout AggregatorStateMachine, now: Double) throws
        -> [AggregatorAction]
    {
        try updates(from: senders, key: key, aggregator: aggregator).flatMap {
            aggregator.receive(agent: $0.agent, round: 1, payload: $0.payload, signature: $0.signature, now: now)
        }
    }

    /// The request the aggregator sends, signed by it.
    func decryptionRequest(in actions: [AggregatorAction]) -> (round: Int, payload: [UInt8], signature: String)? {
        for case .requestDecryption(let round, let payload, _, _) in actions {
            return (
                round, payload, aggregatorIdentity.sign(SignedStatement.homomorphic("he-request", job: Fixture.job, round: round, payload: payload))
            )
        }
        return nil
    }

    @Test("three of four agents send; the key holder decrypts the product; the model moves by their mean")
    func roundWithDropout() throws {
        var keyholder = try keyholder()
        var aggregator = try aggregator()
        let key = keyMessage(keyholder)
        #expect(aggregator.homomorphicKeyReceived(key.payload, signature: key.signature, now: 1000).isEmpty)
        let actions = try deliver(from: ["a1", "a2", "a4"], key: key, to: &aggregator, now: 1003)
        #expect(actions.spooled == 3)
        #expect(actions.rejections.isEmpty)
        let request = try #require(decryptionRequest(in: actions))
        // Late updates do not join an aggregate that is being decrypted.
        let late = try updates(from: ["a3"], key: key, aggregator: aggregator)[0]
        #expect(aggregator.receive(agent: "a3", round: 1, payload: late.payload, signature: late.signature, now: 1004).rejections == [.closedRound])

        let answer = keyholder.requestReceived(round: 1, payload: request.payload, signature: request.signature)
        #expect(answer.first == .recordAnswer(round: 1, requestSHA256: ModelCodec.sha256(request.payload)))
        guard case .publishSum(_, let sum) = answer.last else {
            Issue.record("no sum")
            return
        }
        // A sum the key holder did not sign is not used: the round waits for the real one.
        let forged = aggregatorIdentity.sign(SignedStatement.homomorphic("he-sum", job: Fixture.job, round: 1, payload: sum))
        #expect(aggregator.decryptedSumReceived(round: 1, payload: sum, signature: forged, now: 1005).metrics == nil)
        #expect(aggregator.announcement.round == 1)
        let sumSignature = keyholderIdentity.sign(SignedStatement.homomorphic("he-sum", job: Fixture.job, round: 1, payload: sum))
        let closed = aggregator.decryptedSumReceived(round: 1, payload: sum, signature: sumSignature, now: 1005)
        let metrics = try #require(closed.metrics)
        #expect(metrics.participants == ["a1", "a2", "a4"])
        #expect(metrics.failure == nil)
        let expected = (delta(0).tensors[0].values[0] + delta(1).tensors[0].values[0] + delta(3).tensors[0].values[0]) / 3
        for (new, old) in zip(aggregator.model.parameters.tensors.flatMap(\.values), Fixture.initial.tensors.flatMap(\.values)) {
            // Quantization to 1/65536 per update, then the mean.
            #expect(abs((new - old) - expected) < 2e-5)
        }
        #expect(aggregator.announcement.round == 2)
    }

    @Test("the key holder refuses a request that is unsigned, too small, forged, or a second aggregate for its round")
    func keyholderRefusals() throws {
        var keyholder = try keyholder(minUpdates: 3)
        var aggregator = try aggregator()
        let key = keyMessage(keyholder)
        _ = aggregator.homomorphicKeyReceived(key.payload, signature: key.signature, now: 1000)
        let sent = try updates(from: ["a1", "a2", "a3"], key: key, aggregator: aggregator)
        var actions: [AggregatorAction] = []
        for update in sent {
            actions += aggregator.receive(agent: update.agent, round: 1, payload: update.payload, signature: update.signature, now: 1003)
        }
        let request = try #require(decryptionRequest(in: actions))
        func refusal(_ actions: [KeyholderAction]) -> String? {
            if case .refused(_, let reason) = actions.first, actions.count == 1 { reason } else { nil }
        }
        #expect(refusal(keyholder.requestReceived(round: 1, payload: request.payload, signature: nil))?.contains("not signed") == true)
        // A request that names too few updates: one agent's ciphertexts passed off as an aggregate.
        let single = try HomomorphicKey(payload: key.payload, job: Fixture.job)
        let lone = HomomorphicCodec.encodeRequest(
            .init(
                job: Fixture.job, round: 1, baseSHA256: aggregator.model.sha256, values: Fixture.initial.count,
                contributions: [.init(agent: "a1", sha256: ModelCodec.sha256(sent[0].payload), signature: sent[0].signature!)],
                aggregate: [paillier.key.publicKey.encrypt(BigInteger(7), using: &aggregatorRandom)]),
            key: single)
        let loneSigned = aggregatorIdentity.sign(SignedStatement.homomorphic("he-request", job: Fixture.job, round: 1, payload: lone))
        #expect(refusal(keyholder.requestReceived(round: 1, payload: lone, signature: loneSigned))?.contains("at least 3") == true)
        // Three names, one of them with a signature over another update.
        let forged = HomomorphicCodec.encodeRequest(
            .init(
                job: Fixture.job, round: 1, baseSHA256: aggregator.model.sha256, values: Fixture.initial.count,
                contributions: sent.map { .init(agent: $0.agent, sha256: ModelCodec.sha256(sent[0].payload), signature: $0.signature!) },
                aggregate: [paillier.key.publicKey.encrypt(BigInteger(7), using: &aggregatorRandom)]),
            key: single)
        let forgedSigned = aggregatorIdentity.sign(SignedStatement.homomorphic("he-request", job: Fixture.job, round: 1, payload: forged))
        #expect(
            refusal(keyholder.requestReceived(round: 1, payload: forged, signature: forgedSigned))?.contains("not signed by an enrolled agent")
                == true)
        // The real request is answered, again if asked again (same bytes), and then nothing else for round 1.
        #expect(keyholder.requestReceived(round: 1, payload: request.payload, signature: request.signature).count == 2)
        let again = keyholder.requestReceived(round: 1, payload: request.payload, signature: request.signature)
        #expect(again.count == 1)
        if case .publishSum = again.first {} else { Issue.record("the same request should be answered again") }
        #expect(refusal(keyholder.requestReceived(round: 1, payload: forged, signature: forgedSigned))?.contains("once already") == true)
    }

    @Test("the aggregator refuses unsigned and foreign-key updates, and sums the key holder did not sign")
    func aggregatorRefusals() throws {
        let keyholder = try keyholder()
        var aggregator = try aggregator()
        let key = keyMessage(keyholder)
        // A key the key holder did not sign is not used.
        #expect(aggregator.homomorphicKeyReceived(key.payload, signature: aggregatorIdentity.sign(key.payload), now: 1000).count == 1)
        #expect(aggregator.homomorphicKeyReceived(key.payload, signature: key.signature, now: 1000).isEmpty)
        let sent = try updates(from: ["a1"], key: key, aggregator: aggregator)[0]
        #expect(aggregator.receive(agent: "a1", round: 1, payload: sent.payload, signature: nil, now: 1003).rejections == [.unsigned])
        // Ciphertexts under another key.
        var random = SplitMix64(seed: 9)
        let other = try PaillierPrivateKey.generate(bits: 2048, using: &random)
        let otherKey = try HomomorphicKey(
            payload: ProtocolJSON.encode(
                HomomorphicKeyMessage(job: Fixture.job, key: other.publicKey, base: other.fastEncryptionBase(using: &random))),
            job: Fixture.job)
        let foreign = HomomorphicCodec.encryptUpdate(
            Fixture.delta(0.1).tensors.flatMap(\.values), packing: try settings.packing(cohort: 3), key: otherKey, job: Fixture.job, round: 1,
            agent: "a2", baseSHA256: aggregator.model.sha256, examples: 10, using: &random)
        let signed = identities["a2"]!.sign(
            SignedStatement.update(job: Fixture.job, round: 1, baseSHA256: aggregator.model.sha256, agent: "a2", payload: foreign))
        #expect(aggregator.receive(agent: "a2", round: 1, payload: foreign, signature: signed, now: 1003).rejections == [.homomorphic])
    }

    @Test("the homomorphic topics parse to their kinds, and nothing else under he/ does")
    func topics() throws {
        let topics = try Topics(job: Fixture.job)
        #expect(try topics.parse(topics.homomorphicKey) == .homomorphicKey)
        #expect(try topics.parse(topics.keyholderStatus) == .keyholderStatus)
        #expect(try topics.parse(topics.decryptionRequest(round: 4)) == .decryptionRequest(round: 4))
        #expect(try topics.parse(topics.decryptedSum(round: 4)) == .decryptedSum(round: 4))
        for topic in ["he/keys", "he/keyholder", "round/x/he/sum", "round/4/he/other", "round/04/he/sum"] {
            #expect(throws: ProtocolError.self) { try topics.parse("\(topics.prefix)/\(topic)") }
        }
    }

    @Test("an agent uses only the key the enrolled key holder signed, and refuses a homomorphic round without the key holder's key")
    func agentKeyChecks() throws {
        let keyholder = try keyholder()
        let aggregator = try aggregator()
        let key = keyMessage(keyholder)
        var agent = try AgentStateMachine(
            agent: "a1", job: Fixture.job, lastServedRound: 0, identity: identities["a1"], enrolment: identities.mapValues(\.publicKey),
            keyholder: keyholderIdentity.publicKey, random: SplitMix64(seed: 1))
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        // The aggregator's signature over a key is not the key holder's.
        let forged = agent.homomorphicKeyReceived(key.payload, signature: aggregatorIdentity.sign(key.payload), now: 1001)
        #expect(forged.count == 1 && !forged.contains { if case .train = $0 { true } else { false } })
        var unenrolled = try AgentStateMachine(
            agent: "a2", job: Fixture.job, lastServedRound: 0, identity: identities["a2"], enrolment: identities.mapValues(\.publicKey),
            random: SplitMix64(seed: 2))
        _ = unenrolled.modelReceived(aggregator.modelBytes, now: 1001)
        let refused = unenrolled.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        #expect(refused.contains { if case .refused(1, let reason) = $0 { reason.contains("key holder's key") } else { false } })
    }

    @Test("a restarted aggregator replays its spool once the key arrives and sends the very same request")
    func resumeAfterRestart() throws {
        let keyholder = try keyholder()
        var aggregator = try aggregator()
        let key = keyMessage(keyholder)
        _ = aggregator.homomorphicKeyReceived(key.payload, signature: key.signature, now: 1000)
        let actions = try deliver(from: ["a1", "a2", "a3"], key: key, to: &aggregator, now: 1003)
        let request = try #require(decryptionRequest(in: actions))
        var spooled: [(agent: String, payload: [UInt8])] = []
        var signatures: [String: String] = [:]
        for case .spool(_, let agent, let payload, let signature) in actions {
            spooled.append((agent, payload))
            signatures[agent] = signature
        }
        let checkpoint = try #require(
            actions.compactMap { if case .checkpoint(let c, _) = $0 { c } else { nil } }.first ?? startCheckpoint(aggregator))
        var resumed = try AggregatorStateMachine(
            job: Fixture.job, policy: policy, checkpoint: checkpoint, modelBytes: aggregator.modelBytes, spooled: spooled, signatures: signatures,
            signers: identities.mapValues(\.publicKey), keyholder: keyholderIdentity.publicKey, random: SplitMix64(seed: 1))
        #expect(resumed.tick(now: 1004).isEmpty, "nothing to do before the key")
        let replayed = resumed.homomorphicKeyReceived(key.payload, signature: key.signature, now: 1004)
        #expect(decryptionRequest(in: replayed).map { ModelCodec.sha256($0.payload) } == ModelCodec.sha256(request.payload))
        #expect(replayed.spooled == 0)
    }

    private func startCheckpoint(_ machine: AggregatorStateMachine) -> AggregatorCheckpoint? {
        for case .checkpoint(let checkpoint, _) in machine.startActions(fresh: true) { return checkpoint }
        return nil
    }
}

nonisolated(unsafe) private var aggregatorRandom = SplitMix64(seed: 77)

extension HomomorphicRoundTests {
    @Test(
        "distributed privacy under homomorphic aggregation: agents add their noise share before encrypting; the round is charged and says who sees what"
    )
    func distributedPrivacy() throws {
        var keyholder = try keyholder()
        var policy = self.policy
        policy.privacy = ClientPrivacy(mode: .distributed, clipNorm: 0.5, noiseMultiplier: 1, expectedCohort: 3)
        var aggregator = try AggregatorStateMachine(
            job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000,
            signers: identities.mapValues(\.publicKey), keyholder: keyholderIdentity.publicKey, random: SplitMix64(seed: 1))
        let key = keyMessage(keyholder)
        _ = aggregator.homomorphicKeyReceived(key.payload, signature: key.signature, now: 1000)
        let actions = try deliver(from: ["a1", "a2", "a3"], key: key, to: &aggregator, now: 1003)
        let request = try #require(decryptionRequest(in: actions))
        guard case .publishSum(_, let sum) = keyholder.requestReceived(round: 1, payload: request.payload, signature: request.signature).last
        else {
            Issue.record("no sum")
            return
        }
        let signature = keyholderIdentity.sign(SignedStatement.homomorphic("he-sum", job: Fixture.job, round: 1, payload: sum))
        let metrics = try #require(aggregator.decryptedSumReceived(round: 1, payload: sum, signature: signature, now: 1005).metrics)
        #expect(metrics.failure == nil)
        #expect(metrics.threatModel?.contains("key holder only their sum") == true)
        // Charged once, as a Gaussian release with the distributed multiplier z (three shares of σ/√3).
        var expected = RDPAccountant()
        try expected.compose(.gaussian(noiseMultiplier: policy.privacy!.publishedModelMultiplier(updates: 3)))
        #expect(abs(try #require(metrics.epsilon) - expected.epsilon(delta: 1e-5).epsilon) < 1e-9)
        // The noise is there: the model moved by more than the clipped deltas' mean alone explains.
        let moved = zip(aggregator.model.parameters.tensors.flatMap(\.values), Fixture.initial.tensors.flatMap(\.values)).map { $0 - $1 }
        let plainMean = (delta(0).tensors[0].values[0] + delta(1).tensors[0].values[0] + delta(2).tensors[0].values[0]) / 3
        #expect(moved.contains { abs($0 - plainMean) > 1e-3 })
    }
}

extension HomomorphicRoundTests {
    @Test("an enrolled agent's signed, malformed encrypted updates: each refused with a named reason, nothing multiplied in")
    func hostileEncryptedUpdates() throws {
        let keyholder = try keyholder()
        var aggregator = try aggregator()
        let key = keyMessage(keyholder)
        _ = aggregator.homomorphicKeyReceived(key.payload, signature: key.signature, now: 1000)
        let template = try updates(from: ["a4"], key: key, aggregator: aggregator)[0].payload
        let headerEnd = 8 + Int(template[0]) + Int(template[1]) << 8
        let width = (paillier.key.publicKey.nSquared.bitWidth + 7) / 8
        var random = SplitMix64(seed: 4)
        var reasons: [RejectionReason: Int] = [:]
        for index in 0..<600 {
            var payload = template
            switch index % 4 {
            case 0:
                for _ in 0..<Int(random.next() % 3 + 1) {
                    payload[Int(random.next() % UInt64(headerEnd))] = UInt8(truncatingIfNeeded: random.next())
                }
            case 1:
                payload = Array(template.prefix(Int(random.next() % UInt64(template.count))))
            case 2:
                // A ciphertext of all ones: at least n², no ciphertext of this key (the model's 8 values take one).
                let at = template.count - width
                payload.replaceSubrange(at..<at + width, with: [UInt8](repeating: 0xFF, count: width))
            default:
                // Zero, which no encryption gives (and which would wipe the product out).
                let at = template.count - width
                payload.replaceSubrange(at..<at + width, with: [UInt8](repeating: 0, count: width))
            }
            guard payload != template else { continue }
            let signature = identities["a4"]!.sign(
                SignedStatement.update(job: Fixture.job, round: 1, baseSHA256: aggregator.model.sha256, agent: "a4", payload: payload))
            let actions = aggregator.receive(agent: "a4", round: 1, payload: payload, signature: signature, now: 1003)
            #expect(actions.rejections.count == 1 && actions.spooled == 0, "payload \(index) was not refused")
            for reason in actions.rejections { reasons[reason, default: 0] += 1 }
        }
        #expect(reasons.keys.contains(.homomorphic), "\(reasons)")
        // The honest agents' round goes on as if nothing happened.
        let actions = try deliver(from: ["a1", "a2", "a3"], key: key, to: &aggregator, now: 1004)
        #expect(actions.spooled == 3)
        #expect(try #require(decryptionRequest(in: actions)).payload.count > 0)
    }
}

@Suite("Homomorphic payloads at 3072 bits")
struct HomomorphicKeySizeTests {
    @Test("a 3072-bit key: an encrypted update decodes under it and decrypts to the packed values; a 2048-bit policy refuses it")
    func largerKey() throws {
        var random = SplitMix64(seed: 3072)
        let key = try PaillierPrivateKey.generate(bits: 3072, using: &random)
        let message = ProtocolJSON.encode(HomomorphicKeyMessage(job: Fixture.job, key: key.publicKey, base: key.fastEncryptionBase(using: &random)))
        let parsed = try HomomorphicKey(payload: message, job: Fixture.job)
        let settings = HomomorphicSettings(keyBits: 3072, clip: 1, scale: 1024)
        let packing = try settings.packing(cohort: 4)
        let values = (0..<500).map { Float($0 % 7) / 8 - 0.4 }
        let payload = HomomorphicCodec.encryptUpdate(
            values, packing: packing, key: parsed, job: Fixture.job, round: 2, agent: "a1", baseSHA256: String(repeating: "a", count: 64),
            examples: 3, using: &random)
        let update = try HomomorphicCodec.decodeUpdate(
            payload, job: Fixture.job, round: 2, agent: "a1", baseSHA256: String(repeating: "a", count: 64), key: parsed, packing: packing,
            values: values.count)
        #expect(update.ciphertexts.count == packing.plaintexts(for: values.count))
        let decoded = try packing.unpack(try update.ciphertexts.map { try key.decrypt($0) }, count: values.count, updates: 1)
        #expect(zip(decoded, values).allSatisfy { abs($0 - Double($1)) <= 0.5 / 1024 + 1e-9 })
        // The same key under a policy of 2048 bits: its updates would not fit the announced packing.
        #expect(throws: ProtocolError.self) {
            try HomomorphicCodec.decodeUpdate(
                payload, job: Fixture.job, round: 2, agent: "a1", baseSHA256: String(repeating: "a", count: 64), key: parsed,
                packing: try HomomorphicSettings(clip: 1, scale: 1024).packing(cohort: 4), values: values.count)
        }
    }
}
