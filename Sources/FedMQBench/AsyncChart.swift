import Foundation

/// The time-to-accuracy chart of `fedmq bench async`: one panel per fleet, test accuracy
/// against seconds, the asynchronous job beside the best synchronous one, and the target line.
enum AsyncChart {
    typealias Panel = (title: String, async: [DeviceFleetRun.Point], sync: [DeviceFleetRun.Point], label: String)

    static func svg(_ panels: [Panel], target: Double) -> String {
        let (panelWidth, height) = (320.0, 300.0)
        let (left, top, bottom) = (50.0, 50.0, 250.0)
        let right = panelWidth - 20
        let width = panelWidth * Double(max(panels.count, 1))
        var svg = [
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(width))" height="\##(Int(height))" viewBox="0 0 \##(Int(width)) \##(Int(height))" font-family="sans-serif" font-size="11">"##,
            ##"<rect width="100%" height="100%" fill="white"/>"##,
        ]
        let lowest = 0.5
        for (index, panel) in panels.enumerated() {
            let offset = panelWidth * Double(index)
            let span = max((panel.async + panel.sync).map(\.seconds).max() ?? 1, 1e-3)
            func x(_ seconds: Double) -> Double { offset + left + (right - left) * seconds / span }
            func y(_ accuracy: Double) -> Double { bottom - (bottom - top) * min(1, max(0, (accuracy - lowest) / (1 - lowest))) }
            func line(_ points: [DeviceFleetRun.Point]) -> String {
                points.map { String(format: "%.1f,%.1f", x($0.seconds), y($0.accuracy)) }.joined(separator: " ")
            }
            svg.append(
                String(
                    format: ##"<text x="%.0f" y="22" text-anchor="middle" font-size="13">%@</text>"##, offset + panelWidth / 2, escape(panel.title)))
            for tick in stride(from: lowest, through: 1.0, by: 0.1) {
                svg.append(
                    String(
                        format: ##"<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/>"##, offset + left, y(tick), offset + right, y(tick)))
                svg.append(String(format: ##"<text x="%.0f" y="%.1f" text-anchor="end">%.1f</text>"##, offset + left - 4, y(tick) + 4, tick))
            }
            for fraction in [0.0, 0.5, 1.0] {
                svg.append(
                    String(format: ##"<text x="%.1f" y="%.0f" text-anchor="middle">%.0f</text>"##, x(span * fraction), bottom + 16, span * fraction))
            }
            svg += [
                String(format: ##"<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>"##, offset + left, bottom, offset + right, bottom),
                String(format: ##"<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>"##, offset + left, top, offset + left, bottom),
                String(
                    format: ##"<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>"##, offset + left, y(target),
                    offset + right, y(target)),
                String(format: ##"<text x="%.0f" y="%.0f" text-anchor="middle">seconds</text>"##, offset + (left + right) / 2, bottom + 32),
                ##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="\##(line(panel.async))"/>"##,
                ##"<polyline fill="none" stroke="#d62728" stroke-width="2" points="\##(line(panel.sync))"/>"##,
                String(format: ##"<text x="%.0f" y="%.0f" fill="#1f77b4">asynchronous</text>"##, offset + left + 6, top - 14),
                String(format: ##"<text x="%.0f" y="%.0f" fill="#d62728">%@</text>"##, offset + left + 6, top - 2, escape(panel.label)),
            ]
        }
        svg.append(##"<text x="12" y="150" transform="rotate(-90 12 150)" text-anchor="middle">test accuracy</text>"##)
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
