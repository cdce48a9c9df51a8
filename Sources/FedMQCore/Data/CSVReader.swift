import FoundationEssentials
import Glibc

/// Which column holds the target.
public enum LabelColumn: Sendable, Equatable {
    case last
    case index(Int)
    case name(String)
    /// No label column: rows to predict on; every target is 0.
    case none
}

/// What to do with empty cells or `NA`/`NaN`.
public enum MissingValuePolicy: String, Sendable, Codable {
    /// Refuse the file, naming the line and column (the default: no silent guesses).
    case error
    /// Leave out rows with a missing feature or target.
    case dropRow = "drop_row"
    /// Replace a missing feature with its column's mean over the other rows.
    case fillMean = "fill_mean"
}

/// How a CSV file is read: header line, label column, missing values.
public struct CSVOptions: Sendable {
    public var hasHeader: Bool
    public var label: LabelColumn
    public var missing: MissingValuePolicy

    /// Defaults: no header, label last, a missing value is an error.
    public init(hasHeader: Bool = false, label: LabelColumn = .last, missing: MissingValuePolicy = .error) {
        self.hasHeader = hasHeader
        self.label = label
        self.missing = missing
    }
}

/// Parses numeric CSV (comma-separated, no quoting: FedMQ's data are numbers). Reading the
/// file is the runtimes' job (`CSVReader.read(file:)` in FedMQRuntime).
public enum CSVReader {
    /// Parses CSV text; `file` names it in errors.
    public static func parse(_ text: String, file: String, options: CSVOptions = .init()) throws(CoreError) -> Dataset {
        let lines = self.lines(of: text)
        guard !lines.isEmpty else { throw .malformedData(file: file, line: 1, column: 1, reason: "the file is empty") }
        var firstDataLine = 0
        var names: [String]?
        if options.hasHeader {
            names = cells(of: lines[0]).map {
                $0.trimmingSpaces()
            }
            firstDataLine = 1
        }
        let width = names?.count ?? lines[firstDataLine...].first.map { cells(of: $0).count } ?? 0
        guard width >= (options.label == .none ? 1 : 2) else {
            throw .malformedData(file: file, line: 1, column: 1, reason: "need at least one feature and a label")
        }
        let labelIndex = try resolveLabel(options.label, names: names, width: width, file: file)

        var rows: [[Float?]] = []
        var targets: [Float] = []
        for lineIndex in firstDataLine..<lines.count {
            let cells = Self.cells(of: lines[lineIndex])
            guard cells.count == width else {
                throw .malformedData(
                    file: file, line: lineIndex + 1, column: min(cells.count, width) + 1,
                    reason: "expected \(width) columns, found \(cells.count)")
            }
            var row: [Float?] = []
            var target: Float?
            for (column, cell) in cells.enumerated() {
                let value = try number(cell, file: file, line: lineIndex + 1, column: column + 1)
                if value == nil && options.missing == .error {
                    throw .malformedData(file: file, line: lineIndex + 1, column: column + 1, reason: "missing value")
                }
                if column == labelIndex { target = value } else { row.append(value) }
            }
            guard let target = labelIndex == nil ? 0 : target else {
                if options.missing == .dropRow { continue }
                throw .malformedData(file: file, line: lineIndex + 1, column: (labelIndex ?? 0) + 1, reason: "missing label")
            }
            if options.missing == .dropRow && row.contains(where: { $0 == nil }) { continue }
            rows.append(row)
            targets.append(target)
        }
        guard !rows.isEmpty else { throw .malformedData(file: file, line: lines.count, column: 1, reason: "no data rows") }
        let featureCount = labelIndex == nil ? width : width - 1
        var means = [Float](repeating: 0, count: featureCount)
        if options.missing == .fillMean {
            for column in 0..<featureCount {
                let present = rows.compactMap { $0[column] }
                means[column] = present.isEmpty ? 0 : present.reduce(0, +) / Float(present.count)
            }
        }
        let features = rows.flatMap { row in row.enumerated().map { $0.element ?? means[$0.offset] } }
        var featureNames = names
        if let labelIndex { featureNames?.remove(at: labelIndex) }
        return try Dataset(features: features, targets: targets, featureCount: featureCount, featureNames: featureNames)
    }

    private static func resolveLabel(_ label: LabelColumn, names: [String]?, width: Int, file: String) throws(CoreError) -> Int? {
        switch label {
        case .none:
            return nil
        case .last:
            return width - 1
        case .index(let index):
            guard (0..<width).contains(index) else {
                throw .malformedData(file: file, line: 1, column: 1, reason: "label column \(index) is outside 0..<\(width)")
            }
            return index
        case .name(let name):
            guard let names else {
                throw .malformedData(file: file, line: 1, column: 1, reason: "label column '\(name)' needs a header line")
            }
            guard let index = names.firstIndex(of: name) else {
                throw .malformedData(file: file, line: 1, column: 1, reason: "no column named '\(name)' in the header")
            }
            return index
        }
    }

    /// The lines of `text`, without the blank lines at its end.
    static func lines(of text: String) -> [Substring] {
        // The line breaks `Character.isNewline` knows ("\r\n" is one), found in the UTF-8 bytes:
        // splitting by Character walks grapheme clusters, which took a tenth of an agent's CPU.
        let utf8 = text.utf8
        var lines: [Substring] = []
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            let next = utf8.index(after: index)
            let following = next == utf8.endIndex ? nil : utf8[next]
            let width: Int
            switch utf8[index] {
            case 0x0A, 0x0B, 0x0C: width = 1
            case 0x0D: width = following == 0x0A ? 2 : 1
            case 0xC2: width = following == 0x85 ? 2 : 0
            case 0xE2:
                let third = following == 0x80 && utf8.index(after: next) != utf8.endIndex ? utf8[utf8.index(after: next)] : nil
                width = third == 0xA8 || third == 0xA9 ? 3 : 0
            default: width = 0
            }
            if width == 0 {
                index = next
                continue
            }
            lines.append(text[start..<index])
            index = utf8.index(index, offsetBy: width)
            start = index
        }
        lines.append(text[start..<utf8.endIndex])
        while let last = lines.last, last.trimmingSpaces().isEmpty { lines.removeLast() }
        return lines
    }

    /// A line's comma-separated cells, split on the bytes (no grapheme walking).
    static func cells(of line: Substring) -> [Substring] {
        line.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { Substring($0) }
    }

    /// A cell's number; nil for a missing one (empty, `NA` or `NaN`); an error naming the place
    /// for anything else that is not a finite number.
    static func number(_ cell: Substring, file: String, line: Int, column: Int) throws(CoreError) -> Float? {
        // Most cells are plain numbers: parsed from the cell's own bytes, without Foundation's
        // Unicode trimming (which took most of an agent's start-up CPU). Anything else takes the
        // full path below.
        if let value = Float(trimmingASCIISpaces(cell)), value.isFinite { return value }
        let trimmed = cell.trimmingSpaces()
        if trimmed.isEmpty || trimmed == "NA" || trimmed.lowercased() == "nan" { return nil }
        guard let value = Float(trimmed) else {
            throw .malformedData(file: file, line: line, column: column, reason: "'\(trimmed.prefix(40))' is not a number")
        }
        guard value.isFinite else {
            throw .malformedData(file: file, line: line, column: column, reason: "'\(trimmed.prefix(40))' is not finite")
        }
        return value
    }

    /// `cell` without the spaces and tabs around it.
    private static func trimmingASCIISpaces(_ cell: Substring) -> Substring {
        let bytes = cell.utf8
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, isSpace(bytes[start]) { bytes.formIndex(after: &start) }
        while start < end, isSpace(bytes[bytes.index(before: end)]) { bytes.formIndex(before: &end) }
        return cell[start..<end]
    }
}
