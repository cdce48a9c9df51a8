import FedMQCommandLine
import FedMQProtocol
import Foundation

/// The demo's outputs: a CSV of the rounds and an SVG chart readable in any browser.
enum DemoReport {
    static func csv(_ rounds: [RoundMetrics]) -> String {
        var lines = ["round,participants,rejected,accuracy,loss,epsilon,delta,bytes_received,duration_seconds"]
        for metrics in rounds {
            lines.append(
                [
                    "\(metrics.round)", "\(metrics.updates)", "\(metrics.rejected.values.reduce(0, +))",
                    metrics.accuracy.map { String(format: "%.4f", $0) } ?? "", metrics.loss.map { String(format: "%.4f", $0) } ?? "",
                    metrics.epsilon.map { String(format: "%.4f", $0) } ?? "", metrics.delta.map { "\($0)" } ?? "",
                    "\(metrics.bytesReceived)", String(format: "%.3f", metrics.durationSeconds),
                ].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Accuracy (left axis, 0 to 1) and, on the right axis, epsilon (with differential
    /// privacy) or else the loss, per round.
    static func svg(_ rounds: [RoundMetrics], title: String) -> String {
        let (width, height) = (720.0, 400.0)
        let (left, right, top, bottom) = (60.0, 660.0, 50.0, 340.0)
        let count = max(rounds.count, 1)
        let showsEpsilon = rounds.contains { $0.epsilon != nil }
        let secondary: [Double?] = showsEpsilon ? rounds.map(\.epsilon) : rounds.map(\.loss)
        let secondaryName = showsEpsilon ? "epsilon (delta \(rounds.compactMap(\.delta).first ?? 0))" : "test loss"
        let maxLoss = max(secondary.compactMap { $0 }.max() ?? 1, 1e-9)
        func x(_ index: Int) -> Double { count == 1 ? (left + right) / 2 : left + (right - left) * Double(index) / Double(count - 1) }
        func y(_ fraction: Double) -> Double { bottom - (bottom - top) * min(1, max(0, fraction)) }
        func points(_ values: [Double?]) -> String {
            values.enumerated().compactMap { index, value in value.map { String(format: "%.1f,%.1f", x(index), y($0)) } }
                .joined(separator: " ")
        }
        var svg = [
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(width))" height="\##(Int(height))" viewBox="0 0 \##(Int(width)) \##(Int(height))" font-family="sans-serif" font-size="12">"##,
            ##"<rect width="100%" height="100%" fill="white"/>"##,
            ##"<text x="\##(Int(width / 2))" y="28" text-anchor="middle" font-size="16">\##(escape(title))</text>"##,
        ]
        for tick in stride(from: 0.0, through: 1.0, by: 0.2) {
            let level = y(tick)
            svg.append(String(format: ##"<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>"##, left, level, right, level))
            svg.append(String(format: ##"<text x="%.0f" y="%.1f" text-anchor="end">%.1f</text>"##, left - 6, level + 4, tick))
            svg.append(String(format: ##"<text x="%.0f" y="%.1f">%.2f</text>"##, right + 6, level + 4, tick * maxLoss))
        }
        let step = max(1, count / 10)
        for index in stride(from: 0, to: rounds.count, by: step) {
            svg.append(String(format: ##"<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>"##, x(index), bottom + 18, rounds[index].round))
        }
        svg += [
            String(format: ##"<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>"##, left, bottom, right, bottom),
            String(format: ##"<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>"##, left, top, left, bottom),
            String(format: ##"<text x="%.0f" y="%.0f" text-anchor="middle">round</text>"##, (left + right) / 2, bottom + 38),
            String(
                format: ##"<text x="18" y="%.0f" transform="rotate(-90 18 %.0f)" text-anchor="middle" fill="#1f77b4">test accuracy</text>"##,
                (top + bottom) / 2, (top + bottom) / 2),
            String(
                format: ##"<text x="%.0f" y="%.0f" transform="rotate(90 %.0f %.0f)" text-anchor="middle" fill="#d62728">%@</text>"##, width - 14,
                (top + bottom) / 2, width - 14, (top + bottom) / 2, escape(secondaryName)),
            ##"<polyline fill="none" stroke="#1f77b4" stroke-width="2.5" points="\##(points(rounds.map(\.accuracy)))"/>"##,
            ##"<polyline fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="6 4" points="\##(points(secondary.map { $0.map { $0 / maxLoss } }))"/>"##,
        ]
        if let last = rounds.last, let accuracy = last.accuracy {
            svg.append(
                String(format: ##"<text x="%.0f" y="%.0f" text-anchor="end" fill="#1f77b4">final accuracy %.3f</text>"##, right, top - 8, accuracy))
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
