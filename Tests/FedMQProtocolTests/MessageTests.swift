import FedMQCore
import FedMQProtocol
import Testing

@Suite("Control message schemas")
struct MessageTests {
    @Test("messages round-trip through JSON with snake_case keys")
    func roundTrip() throws {
        let announcement = Fixture.machine().announcement
        let bytes = ProtocolJSON.encode(announcement)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""base_model_sha256":""#))
        // Slashes unescaped, as people read them in mosquitto_sub.
        #expect(text.contains(#""schema":"fedmq.round/1""#))
        #expect(!text.contains(#"\/"#))
        #expect(try ProtocolJSON.decode(RoundAnnouncement.self, from: bytes) == announcement)
        let status = AgentStatus(agent: "a1", state: .training, lastRound: 3, time: 5)
        #expect(try ProtocolJSON.decode(AgentStatus.self, from: ProtocolJSON.encode(status)) == status)
    }

    @Test(
        "hostile JSON is refused with a reason naming the field",
        arguments: [
            (#"{"schema":"fedmq.status/1","agent":"a1","state":"training"}"#, "missing field 'last_round'"),
            (#"{"schema":"fedmq.status/1","agent":"a1","state":"dancing","last_round":1}"#, "field 'state' is invalid"),
            (#"{"schema":"fedmq.status/2","agent":"a1","state":"idle","last_round":1}"#, "schema is 'fedmq.status/2'"),
            (#"{"schema":"fedmq.status/1","agent":"a/1","state":"idle","last_round":1}"#, "agent id or last_round is invalid"),
            (#"{"schema":"fedmq.status/1","agent":"a1","state":"idle","last_round":"x"}"#, "field 'last_round' has the wrong type"),
            ("[1,", "not valid JSON"),
        ])
    func hostile(json: String, reason: String) {
        #expect(throws: ProtocolError.invalidMessage(schema: AgentStatus.schema, reason: reason)) {
            try ProtocolJSON.decode(AgentStatus.self, from: Array(json.utf8))
        }
    }

    @Test("oversized messages are refused before parsing")
    func oversized() {
        let big = [UInt8](repeating: 0x20, count: ProtocolJSON.maxMessageBytes + 1)
        #expect(throws: ProtocolError.self) { try ProtocolJSON.decode(RoundMetrics.self, from: big) }
    }

    @Test("a global model carries its spec and decodes to the same parameters and sha256")
    func model() throws {
        let machine = Fixture.machine()
        let decoded = try ModelCodec.decodeModel(machine.modelBytes)
        #expect(decoded == machine.model)
        #expect(decoded.spec == Fixture.spec)
        #expect(decoded.sha256 == ModelCodec.sha256(machine.modelBytes))
        #expect(ModelCodec.sha256(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var tampered = machine.modelBytes
        tampered[tampered.count - 1] ^= 0xFF
        #expect(try ModelCodec.decodeModel(tampered).sha256 != decoded.sha256)
        #expect(throws: ProtocolError.self) { try ModelCodec.decodeModel(Fixture.update(machine, agent: "a1")) }
    }

    @Test("models decoded through a spec cache: the same spec text is parsed once; another spec, or a broken one, is parsed")
    func specCache() throws {
        var specs = ModelSpecCache()
        let machine = Fixture.machine()
        #expect(try ModelCodec.decodeModel(machine.modelBytes, specs: &specs) == machine.model)
        #expect(try ModelCodec.decodeModel(machine.modelBytes, specs: &specs).spec == Fixture.spec)
        let other = ModelSpec(kind: .softmaxRegression, inputs: 3, outputs: 4)
        let otherModel = ModelCodec.encodeModel(try other.initialParameters(seed: 1), spec: other, job: "job1", round: 2)
        #expect(try ModelCodec.decodeModel(otherModel, specs: &specs).spec == other)
        #expect(throws: CoreError.self) { try specs.spec(parsing: "{not json") }
        #expect(try specs.spec(parsing: other.jsonString()) == other)
        #expect(try specs.spec(parsing: Fixture.spec.jsonString()) == Fixture.spec)
    }
}
