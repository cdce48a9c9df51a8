import Testing

@testable import FedMQCore

@Suite("CSV data sets")
struct CSVReaderTests {
    @Test("the shipped files load with the right shapes and labels")
    func shippedFiles() throws {
        let digits = try readCSV(dataFile("digits.csv"), options: CSVOptions(hasHeader: true, label: .name("label")))
        #expect(digits.count == 1797)
        #expect(digits.featureCount == 64)
        #expect(Set(try digits.labels(classes: 10)) == Set(0..<10))
        #expect(digits.featureNames?.first == "pixel_0_0")
        let cancer = try readCSV(dataFile("breast_cancer.csv"), options: CSVOptions(hasHeader: true))
        #expect(cancer.count == 569)
        #expect(cancer.featureCount == 30)
        #expect(try cancer.labels(classes: 2).filter { $0 == 1 }.count == 357)
    }

    @Test("labels beyond Int's range or not whole are refused with the row, never a trap", arguments: ["1e19", "-1e30", "3.5", "1e38"])
    func hugeLabels(label: String) throws {
        let data = try CSVReader.parse(
            "x,label\n0.5,1\n0.25,\(label)\n", file: "huge.csv", options: CSVOptions(hasHeader: true, label: .name("label")))
        #expect(throws: CoreError.invalidData("row 2: label \(data.targets[1]) is not a class in 0..<10")) { try data.labels(classes: 10) }
    }

    @Test("label column by name, by index, or last")
    func labelColumns() throws {
        let text = "a,label,b\n1,0,2\n3,1,4\n"
        let byName = try CSVReader.parse(text, file: "t.csv", options: CSVOptions(hasHeader: true, label: .name("label")))
        #expect(byName.features == [1, 2, 3, 4])
        #expect(byName.targets == [0, 1])
        #expect(byName.featureNames == ["a", "b"])
        let byIndex = try CSVReader.parse("1,0,2\n3,1,4", file: "t.csv", options: CSVOptions(label: .index(1)))
        #expect(byIndex == byName.withoutNames())
        let last = try CSVReader.parse("1,2,0\n3,4,1\r\n", file: "t.csv")
        #expect(last.features == [1, 2, 3, 4])
        #expect(last.targets == [0, 1])
    }

    @Test(
        "malformed files name the file, line and column",
        arguments: [
            ("1,2,3\n4,x,6\n", "bad.csv:2:2: 'x' is not a number"),
            ("1,2,3\n4,5\n", "bad.csv:2:3: expected 3 columns, found 2"),
            ("1,2,3\n4,,6\n", "bad.csv:2:2: missing value"),
            ("1,2,3\n4,inf,6\n", "bad.csv:2:2: 'inf' is not finite"),
            ("", "bad.csv:1:1: the file is empty"),
        ])
    func malformed(text: String, message: String) {
        let error = #expect(throws: CoreError.self) { try CSVReader.parse(text, file: "bad.csv") }
        #expect(error?.description == message)
    }

    @Test("cells: numbers with spaces, tabs or Unicode spaces around them; NA, NaN and empty cells are missing")
    func cells() throws {
        let text = " 1 ,\t2.5e1\t,\u{00A0}-3\u{00A0},0\n4,NaN,nan,1\n NA ,  ,6,0\n"
        let filled = try CSVReader.parse(text, file: "c.csv", options: CSVOptions(missing: .fillMean))
        #expect(filled.features == [1, 25, -3, 4, 25, 1.5, 2.5, 25, 6])
        #expect(filled.targets == [0, 1, 0])
        for bad in ["-nan", "1;5", "0x", "1e39"] {
            #expect(throws: CoreError.self, "\(bad)") { try CSVReader.parse("\(bad),1\n", file: "c.csv", options: CSVOptions(missing: .fillMean)) }
        }
    }

    @Test("lines break where Swift's Character.isNewline does (CRLF as one break), found byte by byte; cells split on commas")
    func lineBreaks() {
        let pieces = [
            "a", "1,2", "é", " ", "\n", "\r", "\r\n", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}", "\u{2027}", "\u{86}", ",", "\u{301}",
        ]
        var random = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            let text = (0..<Int(random.next() % 12)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
            var expected = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            while let last = expected.last, last.trimmingCharacters(in: .whitespaces).isEmpty { expected.removeLast() }
            #expect(CSVReader.lines(of: text) == expected, "\(Array(text.unicodeScalars))")
        }
        #expect(CSVReader.cells(of: "1, 2,,é,") == ["1", " 2", "", "é", ""])
    }

    @Test("a missing label column name is reported")
    func unknownLabel() {
        let error = #expect(throws: CoreError.self) {
            try CSVReader.parse("a,b\n1,2", file: "h.csv", options: CSVOptions(hasHeader: true, label: .name("y")))
        }
        #expect(error?.description == "h.csv:1:1: no column named 'y' in the header")
    }

    @Test("missing values: drop the row, or fill with the column mean")
    func missingPolicies() throws {
        let text = "1,10,0\n,20,1\n3,NA,0\n5,40,1\n"
        let dropped = try CSVReader.parse(text, file: "m.csv", options: CSVOptions(missing: .dropRow))
        #expect(dropped.features == [1, 10, 5, 40])
        #expect(dropped.targets == [0, 1])
        let filled = try CSVReader.parse(text, file: "m.csv", options: CSVOptions(missing: .fillMean))
        #expect(filled.features == [1, 10, 3, 20, 3, 70.0 / 3, 5, 40])
    }

    @Test("rows without a label column (data to predict on): every column a feature, every target 0")
    func withoutLabel() throws {
        let data = try CSVReader.parse("x,y\n1,2\n3,4\n", file: "p.csv", options: CSVOptions(hasHeader: true, label: .none))
        #expect(data.featureCount == 2 && data.features == [1, 2, 3, 4] && data.targets == [0, 0])
        #expect(data.featureNames == ["x", "y"])
        let single = try CSVReader.parse("5\n6\n", file: "p.csv", options: CSVOptions(label: .none))
        #expect(single.featureCount == 1 && single.features == [5, 6])
    }
}

extension Dataset {
    func withoutNames() -> Dataset {
        var copy = self
        copy.featureNames = nil
        return copy
    }
}

@Suite("Feature scales")
struct FeatureScaleTests {
    @Test("unscaled breast cancer data is named with its widest and narrowest features; digits and scaled data are not")
    func unscaledWarning() throws {
        let cancer = try readCSV(dataFile("breast_cancer.csv"), options: CSVOptions(hasHeader: true, label: .name("label")))
        let warning = try #require(FeatureScaling.unscaledWarning(cancer))
        #expect(warning.contains("'worst_area'") && warning.contains("features differ in scale by"), "\(warning)")
        var scaled = cancer
        try FeatureScaling.fit(cancer).apply(to: &scaled)
        #expect(FeatureScaling.unscaledWarning(scaled) == nil)
        let digits = try readCSV(dataFile("digits.csv"), options: CSVOptions(hasHeader: true, label: .name("label")))
        #expect(FeatureScaling.unscaledWarning(digits) == nil)
    }
}
