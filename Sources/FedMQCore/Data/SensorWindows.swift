/// How a continuous sensor log (CSV in long form: one reading per line, one column per
/// channel, a header naming them) becomes training rows: sliding windows of `length` readings
/// every `stride` readings over the chosen `channels`, flattened channel-major (channel 0's
/// readings, then channel 1's, ...), each labelled with the index of its label in `labels`.
///
/// A window whose readings do not all carry one label is left out (it straddles an activity
/// change), and so is one that straddles a change of the `segment` column (another device or
/// recording). Missing readings (empty cells or `NaN`) follow `missing`.
public struct SensorWindows: Sendable, Equatable {
    /// What a window with a missing reading becomes.
    public enum Missing: Sendable, Equatable {
        /// It is left out.
        case dropWindow
        /// The reading takes its channel's value here: for example the fleet-wide mean that
        /// `fedmq analytics` gives.
        case fill([Float])
    }

    public var channels: [String]
    public var length: Int
    public var stride: Int
    /// The label column, and its values in class order (their index is the row's target).
    public var label: String
    public var labels: [String]
    /// A column whose change ends a run of readings (a device, a recording), if any.
    public var segment: String?
    public var missing: Missing

    /// Windows of `length` readings every `stride` over `channels`, labelled by `label` through `labels`.
    public init(
        channels: [String], length: Int, stride: Int, label: String, labels: [String], segment: String? = nil, missing: Missing = .dropWindow
    ) {
        self.channels = channels
        self.length = length
        self.stride = stride
        self.label = label
        self.labels = labels
        self.segment = segment
        self.missing = missing
    }

    /// What cutting a log gave: the windows, and how many were left out and why.
    public struct Result: Sendable {
        public var windows: Dataset
        /// Each window's value of the segment column ("" without one), in the windows' order.
        public var segments: [String]
        /// Windows left out because their readings carry more than one label.
        public var mixedLabels: Int
        /// Windows left out for a missing reading (with `dropWindow`).
        public var missingReadings: Int
    }

    /// Refuses settings that make no windows, naming the setting.
    public func validate() throws(CoreError) {
        guard !channels.isEmpty, Set(channels).count == channels.count else { throw .invalidData("give one or more distinct channels") }
        guard (2...1 << 20).contains(length), channels.count * length <= 1 << 24 else {
            throw .invalidData("window length must be within 2...2^20 readings (and channels x length within 2^24)")
        }
        guard (1...length).contains(stride) else { throw .invalidData("stride must be within 1...length (\(length))") }
        guard labels.count >= 2, Set(labels).count == labels.count else { throw .invalidData("give two or more distinct labels") }
        if case .fill(let values) = missing, values.count != channels.count || !values.allSatisfy(\.isFinite) {
            throw .invalidData("fill needs one finite value per channel (\(channels.count))")
        }
    }

    /// The windows of the log in `text` (`file` names it in errors).
    public func cut(_ text: String, file: String) throws(CoreError) -> Result {
        try validate()
        let lines = CSVReader.lines(of: text)
        guard lines.count >= 2 else { throw .malformedData(file: file, line: 1, column: 1, reason: "need a header and readings") }
        let names = CSVReader.cells(of: lines[0]).map { $0.trimmingSpaces() }
        func column(_ name: String) throws(CoreError) -> Int {
            guard let index = names.firstIndex(of: name) else {
                throw .malformedData(file: file, line: 1, column: 1, reason: "no column named '\(name)' (columns: \(names.joined(separator: ", ")))")
            }
            return index
        }
        var channelColumns: [Int] = []
        for name in channels { channelColumns.append(try column(name)) }
        let labelColumn = try column(label)
        let segmentColumn = try segment.map { name throws(CoreError) in try column(name) }
        var readings: [[Float]] = []
        var classes: [Int] = []
        var segments: [Substring] = []
        for index in 1..<lines.count {
            let cells = CSVReader.cells(of: lines[index])
            guard cells.count == names.count else {
                throw .malformedData(
                    file: file, line: index + 1, column: min(cells.count, names.count) + 1,
                    reason: "expected \(names.count) columns, found \(cells.count)")
            }
            var row: [Float] = []
            for column in channelColumns {
                row.append(try CSVReader.number(cells[column], file: file, line: index + 1, column: column + 1) ?? .nan)
            }
            let name = cells[labelColumn].trimmingSpaces()
            guard let labelIndex = labels.firstIndex(of: name) else {
                throw .malformedData(
                    file: file, line: index + 1, column: labelColumn + 1,
                    reason: "label '\(name.prefix(40))' is not one of \(labels.joined(separator: ", "))")
            }
            readings.append(row)
            classes.append(labelIndex)
            segments.append(segmentColumn.map { cells[$0] } ?? "")
        }
        return try windows(readings, classes, segments)
    }

    private func windows(_ readings: [[Float]], _ classes: [Int], _ segments: [Substring]) throws(CoreError) -> Result {
        var features: [Float] = []
        var targets: [Float] = []
        var windowSegments: [String] = []
        var (mixedLabels, missingReadings) = (0, 0)
        var start = 0
        while start + length <= readings.count {
            defer { start += stride }
            let range = start..<(start + length)
            guard segments[range].allSatisfy({ $0 == segments[start] }) else { continue }
            guard classes[range].allSatisfy({ $0 == classes[start] }) else {
                mixedLabels += 1
                continue
            }
            var window: [Float] = []
            window.reserveCapacity(channels.count * length)
            for channel in channels.indices { window += range.map { readings[$0][channel] } }
            if window.contains(where: \.isNaN) {
                guard case .fill(let values) = missing else {
                    missingReadings += 1
                    continue
                }
                for index in window.indices where window[index].isNaN { window[index] = values[index / length] }
            }
            features += window
            targets.append(Float(classes[start]))
            windowSegments.append(String(segments[start]).trimmingSpaces())
        }
        guard !targets.isEmpty else { throw .invalidData("the log gives no complete window of \(length) readings with one label") }
        let names = channels.flatMap { channel in (0..<length).map { "\(channel)_\($0)" } }
        let windows = try Dataset(features: features, targets: targets, featureCount: channels.count * length, featureNames: names)
        return Result(windows: windows, segments: windowSegments, mixedLabels: mixedLabels, missingReadings: missingReadings)
    }
}
