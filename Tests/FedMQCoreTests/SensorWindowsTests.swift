import FedMQCore
import Testing

@Suite("Sensor logs cut into windows")
struct SensorWindowsTests {
    /// Two devices' logs: reading i has ax = i, ay = -i; device a walks for 6 readings then runs
    /// for 4, device b sits for 6.
    static let log =
        (["time,device,ax,ay,activity"]
        + (0..<10).map { "\($0),a,\($0),\(-$0),\($0 < 6 ? "walk" : "run")" }
        + (10..<16).map { "\($0),b,\($0),\(-$0),sit" }).joined(separator: "\n") + "\n"

    static let windows = SensorWindows(
        channels: ["ax", "ay"], length: 3, stride: 2, label: "activity", labels: ["sit", "walk", "run"], segment: "device")

    @Test("windows are channel-major, labelled by the list, and never straddle a label or device change")
    func cut() throws {
        let result = try Self.windows.cut(Self.log, file: "log.csv")
        // Starts 0, 2, 4, 6, 8 on device a (4 and 6 mix walk and run? 4: 4,5,6 mixes; 6: 6,7,8 runs), 10, 12 on b (14 is short).
        let starts = [0, 2, 6, 10, 12]
        #expect(result.windows.count == starts.count && result.mixedLabels == 1)
        #expect(result.windows.featureNames == ["ax_0", "ax_1", "ax_2", "ay_0", "ay_1", "ay_2"])
        for (row, start) in starts.enumerated() {
            let expected = (start..<(start + 3)).map(Float.init) + (start..<(start + 3)).map { Float(-$0) }
            #expect(Array(result.windows.features[(row * 6)..<(row * 6 + 6)]) == expected, "window at \(start)")
        }
        #expect(result.windows.targets == [1, 1, 2, 0, 0])
        // Windows of six augment as such: the rows fit a 2 x 3 window augmentation.
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 6, outputs: 3)
        var trainer = try Trainer(
            spec: spec,
            config: TrainingConfig(augmentation: Augmentation(window: WindowAugmentation(channels: 2, length: 3, scaling: 0.1, timeShift: 1))))
        var parameters = try spec.initialParameters(seed: 0)
        var random = SplitMix64(seed: 1)
        #expect(try trainer.train(&parameters, on: result.windows, random: &random).steps == 1)
    }

    @Test("a missing reading drops its window, or takes the channel's fill value")
    func missing() throws {
        let gappy = Self.log.replacingOccurrences(of: "\n1,a,1,-1,walk", with: "\n1,a,,-1,walk")
        let dropped = try Self.windows.cut(gappy, file: "log.csv")
        #expect(dropped.windows.count == 4 && dropped.missingReadings == 1)
        var filling = Self.windows
        filling.missing = .fill([0.5, 0])
        let filled = try filling.cut(gappy, file: "log.csv")
        #expect(filled.windows.count == 5 && Array(filled.windows.features[0..<3]) == [0, 0.5, 2])
    }

    @Test("an unknown label, a missing column, a bad number and bad settings are refused by name")
    func refusals() {
        let cases: [(String, SensorWindows, String)] = [
            (Self.log.replacingOccurrences(of: ",sit", with: ",lie"), Self.windows, "log.csv:12:5: label 'lie' is not one of sit, walk, run"),
            (Self.log, SensorWindows(channels: ["az"], length: 3, stride: 1, label: "activity", labels: ["a", "b"]), "no column named 'az'"),
            (Self.log.replacingOccurrences(of: "\n3,a,3,", with: "\n3,a,three,"), Self.windows, "log.csv:5:3: 'three' is not a number"),
            (
                Self.log, SensorWindows(channels: ["ax"], length: 3, stride: 4, label: "activity", labels: ["a", "b"]),
                "stride must be within 1...length"
            ),
        ]
        for (text, windows, expected) in cases {
            #expect {
                try windows.cut(text, file: "log.csv")
            } throws: { "\($0)".contains(expected) }
        }
    }
}

@Suite("Selecting feature columns")
struct ColumnSelectionTests {
    @Test("the named columns stay, in the order given, the others go; a missing or repeated name is refused by name")
    func select() throws {
        let data = try CSVReader.parse(
            "id,b,a,noise,label\n7,1,2,3,0\n8,4,5,6,1\n", file: "x.csv", options: CSVOptions(hasHeader: true, label: .name("label")))
        let selected = try data.selectingFeatures(named: ["a", "b"])
        #expect(selected.features == [2, 1, 5, 4] && selected.featureCount == 2 && selected.featureNames == ["a", "b"])
        #expect(selected.targets == data.targets)
        #expect {
            try data.selectingFeatures(named: ["a", "c"])
        } throws: { "\($0)".contains("no column named 'c' among id, b, a, noise") }
        #expect { try data.selectingFeatures(named: ["a", "a"]) } throws: { "\($0)".contains("name one twice") }
        let unnamed = try CSVReader.parse("1,2,0\n", file: "y.csv", options: CSVOptions())
        #expect { try unnamed.selectingFeatures(named: ["a"]) } throws: { "\($0)".contains("need a header line") }
    }
}
