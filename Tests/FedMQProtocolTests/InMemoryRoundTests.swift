import FedMQCore
import FedMQProtocol
import FedMQTransport
import Testing

/// Both state machines wired through the in-memory broker, with a fake clock: the topic
/// layout, retained messages and wildcards as the runtimes use them.
@Suite("Rounds through the in-memory transport")
struct InMemoryRoundTests {
    @Test("three agents and the aggregator complete every round; late joiners get the retained state")
    func fullJob() async throws {
        let broker = InMemoryBroker()
        let topics = try Topics(job: Fixture.job)
        var clock = 1000.0
        var aggregator = Fixture.machine(now: clock)
        let aggregatorClient = broker.connect(clientID: "aggregator")
        let updates = try await aggregatorClient.subscribe(to: [topics.allUpdates], qos: .atLeastOnce)
        var updateIterator = updates.makeAsyncIterator()

        func perform(_ actions: [AggregatorAction]) async throws {
            for action in actions {
                switch action {
                case .publishModel(let bytes): try await aggregatorClient.publish(topics.globalModel, payload: bytes, retain: true)
                case .publishRound(let round):
                    try await aggregatorClient.publish(topics.globalRound, payload: ProtocolJSON.encode(round), retain: true)
                case .publishMetrics(let metrics):
                    try await aggregatorClient.publish(topics.metrics, payload: ProtocolJSON.encode(metrics), retain: true)
                default: break
                }
            }
        }
        try await perform(aggregator.startActions(fresh: true))

        var agents: [(machine: AgentStateMachine, client: InMemoryClient, inbox: MQTTSubscription)] = []
        for name in ["a1", "a2", "a3"] {
            let client = broker.connect(clientID: name)
            let inbox = try await client.subscribe(to: [topics.globalModel, topics.globalRound], qos: .atLeastOnce)
            agents.append((try AgentStateMachine(agent: name, job: Fixture.job, lastServedRound: 0), client, inbox))
        }
        var published = 0
        for round in 1...3 {
            for index in agents.indices {
                var iterator = agents[index].inbox.makeAsyncIterator()
                // The retained model and round are waiting; read both.
                for _ in 0..<2 {
                    let message = try #require(await iterator.next())
                    clock += 0.1
                    let actions =
                        message.topic == topics.globalModel
                        ? agents[index].machine.modelReceived(message.payload, now: clock)
                        : agents[index].machine.roundReceived(message.payload, now: clock)
                    for case .train(let trainRound, let base, _) in actions {
                        #expect(trainRound == round)
                        var trained = base.parameters
                        try trained.add(Fixture.delta(Float(index + 1) * 0.1))
                        for case .publishUpdate(let topic, let payload, _, _) in agents[index].machine.trainingFinished(
                            round: trainRound, trained: trained, examples: 10, now: clock)
                        {
                            try await agents[index].client.publish(topic, payload: payload)
                            published += 1
                        }
                    }
                }
            }
            for _ in 0..<3 {
                let message = try #require(await updateIterator.next())
                guard case .update(let updateRound, let agent) = try topics.parse(message.topic) else {
                    Issue.record("unexpected topic \(message.topic)")
                    continue
                }
                try await perform(aggregator.receive(agent: agent, round: updateRound, payload: message.payload, now: clock))
            }
        }
        #expect(published == 9)
        #expect(aggregator.finished)
        // Each round moved every value by the mean delta 0.2.
        #expect(aggregator.model.parameters.tensors.allSatisfy { $0.values.allSatisfy { abs($0 - 0.6) < 1e-5 } })
        let metrics = try ProtocolJSON.decode(RoundMetrics.self, from: try #require(broker.retainedMessage(on: topics.metrics)).payload)
        #expect(metrics.round == 3)
        #expect(metrics.participants == ["a1", "a2", "a3"])
        let late = broker.connect(clientID: "late")
        let model = try await late.subscribe(to: [topics.globalModel], qos: .atLeastOnce)
        var iterator = model.makeAsyncIterator()
        #expect(try ModelCodec.decodeModel(try #require(await iterator.next()).payload).round == 3)
    }
}
