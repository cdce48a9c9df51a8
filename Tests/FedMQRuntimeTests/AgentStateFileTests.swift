import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

@testable import FedMQAgent

@Suite("The agent's state file: record, kept update and residual in one write")
struct AgentStateFileTests {
    @Test("a saved state reads back whole from a new reader; the file is owner-only")
    func roundTrip() throws {
        let directory = try freshDirectory("agent-state")
        let file = AgentStateFile(directory: directory, job: "j")
        #expect(try file.load().record.lastServedRound == 0)
        var state = try file.load()
        state.record.lastServedRound = 3
        state.record.lastUpdateSignature = "c2ln"
        state.record.publishTimes = [1.5, 2.5]
        state.lastUpdate = [1, 2, 3]
        state.residual = [9, 8]
        try file.save(state)

        let read = try AgentStateFile(directory: directory, job: "j").load()
        #expect(read.record.lastServedRound == 3)
        #expect(read.record.lastUpdateSignature == "c2ln")
        #expect(read.record.publishTimes == [1.5, 2.5])
        #expect(read.lastUpdate == [1, 2, 3])
        #expect(read.residual == [9, 8])
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/agent-j.state")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test("an agent upgraded from separate files reads them, and its first write replaces them")
    func legacyFiles() throws {
        let directory = try freshDirectory("agent-state")
        let record = #"{"job":"j","last_served_round":7,"ledger":[],"last_update_signature":"c2ln","publish_times":[4.0]}"#
        try Data(record.utf8).write(to: URL(fileURLWithPath: directory + "/agent-j.json"))
        try Data([5, 6, 7]).write(to: URL(fileURLWithPath: directory + "/update-j.safetensors"))
        try Data([1]).write(to: URL(fileURLWithPath: directory + "/residual-j.safetensors"))

        let file = AgentStateFile(directory: directory, job: "j")
        var state = try file.load()
        #expect(state.record.lastServedRound == 7)
        #expect(state.record.publishTimes == [4.0])
        #expect(state.lastUpdate == [5, 6, 7])
        #expect(state.residual == [1])
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == [
                "agent-j.json", "residual-j.safetensors", "update-j.safetensors",
            ])

        state.record.lastServedRound = 8
        try file.save(state)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["agent-j.state"])
        let read = try AgentStateFile(directory: directory, job: "j").load()
        #expect(read.record.lastServedRound == 8)
        #expect(read.lastUpdate == [5, 6, 7])
        #expect(read.residual == [1])
    }

    @Test("a record of another job, or one that does not parse, is refused with the file's path")
    func refused() throws {
        let directory = try freshDirectory("agent-state")
        let other = AgentStateFile(directory: directory, job: "other")
        try other.save(AgentState(record: AgentRecord(job: "other", lastServedRound: 1, ledger: [])))
        try FileManager.default.moveItem(atPath: directory + "/agent-other.state", toPath: directory + "/agent-j.state")
        #expect {
            try AgentStateFile(directory: directory, job: "j").load()
        } throws: { error in
            "\(error)".contains(directory + "/agent-j.state") && "\(error)".contains("unreadable record")
        }
        try Data("not json".utf8).write(to: URL(fileURLWithPath: directory + "/agent-k.json"))
        #expect {
            try AgentStateFile(directory: directory, job: "k").load()
        } throws: { error in
            "\(error)".contains(directory + "/agent-k.json")
        }
    }
}

@Suite("The agent's record as JSON")
struct AgentRecordJSONTests {
    @Test("records without privacy events are written by hand, byte for byte as JSONEncoder writes them; others by JSONEncoder")
    func handWritten() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var random = SplitMix64(seed: 59)
        for index in 0..<2_000 {
            var record = AgentRecord(
                job: "job-\(index)", lastServedRound: Int(random.next() % 100_000), ledger: [],
                lastUpdateSignature: index % 3 == 0 ? nil : "c2ln/+\(index)=")
            record.publishTimes = (0..<Int(random.next() % 40)).map { _ in 1_764_655_200 + Double(random.next() % 100_000_000) / 1000 }
            record.lastUpdatePublishedDuring = index % 2 == 0 ? nil : index
            let written = try #require(record.writtenJSON())
            #expect(written == Array(try encoder.encode(record)))
            #expect(try JSONDecoder().decode(AgentRecord.self, from: Data(written)).publishTimes == record.publishTimes)
        }
        let withLedger = AgentRecord(job: "j", lastServedRound: 2, ledger: [.gaussian(noiseMultiplier: 1.1)])
        #expect(withLedger.writtenJSON() == nil)
        #expect(ProtocolJSON.encode(withLedger) == Array(try encoder.encode(withLedger)))
    }
}
