import Foundation
import Histogram
import Synchronization

/// Latencies of one benchmark, in microseconds, recorded from many tasks at once.
final class LatencyRecorder: Sendable {
    private let histogram = Mutex(LatencyRecorder.empty())

    /// An HdrHistogram from 1 µs to 10 min with three significant digits.
    static func empty() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        return histogram
    }

    /// Records one latency.
    func record(_ latency: Duration) {
        let micros = UInt64(max(1, latency.inMicroseconds.rounded()))
        histogram.withLock { _ = $0.record(micros) }
    }

    /// How many latencies were recorded and their p99 so far, for a progress line.
    var progress: (count: Int, p99: Duration) {
        histogram.withLock { (Int($0.totalCount), .microseconds($0.valueAtPercentile(99))) }
    }

    /// The distribution so far.
    var snapshot: LatencySummary { histogram.withLock { LatencySummary($0) } }
}

/// A latency distribution as reported: percentiles in milliseconds.
struct LatencySummary: Codable, Sendable {
    var count: Int
    var meanMs: Double
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var p999Ms: Double
    var maxMs: Double

    /// Reads the percentiles of a histogram of microseconds.
    init(_ histogram: Histogram<UInt64>) {
        let ms = { (micros: UInt64) in Double(micros) / 1000 }
        count = Int(histogram.totalCount)
        meanMs = count == 0 ? 0 : histogram.mean / 1000
        p50Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(50))
        p90Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(90))
        p99Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(99))
        p999Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(99.9))
        maxMs = count == 0 ? 0 : ms(histogram.max)
    }

    /// `p50 1.2  p90 3.4  p99 5.6  p99.9 7.8  max 9.0 ms` for people.
    var text: String {
        "p50 \(Format.ms(p50Ms))  p90 \(Format.ms(p90Ms))  p99 \(Format.ms(p99Ms))  p99.9 \(Format.ms(p999Ms))  max \(Format.ms(maxMs)) ms"
    }
}

extension Duration {
    /// The duration in microseconds.
    var inMicroseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }

    /// The duration in seconds.
    var inSeconds: Double { inMicroseconds / 1e6 }
}

/// Number formatting for the benchmarks' text output.
enum Format {
    /// `12,345` for 12345.4.
    static func count(_ value: Double) -> String {
        let digits = String(Int(value.rounded()))
        var grouped = ""
        for (index, digit) in digits.reversed().enumerated() {
            if index > 0, index % 3 == 0, digit != "-" { grouped.append(",") }
            grouped.append(digit)
        }
        return String(grouped.reversed())
    }

    /// `12,345/s`.
    static func rate(_ value: Double) -> String { "\(count(value))/s" }

    /// Milliseconds with two decimals below 10 ms, one below 100, none above.
    static func ms(_ value: Double) -> String {
        String(format: value < 10 ? "%.2f" : value < 100 ? "%.1f" : "%.0f", value)
    }

    /// A ratio to a ceiling: `0.42` below 10, `12×` above.
    static func ratio(_ value: Double) -> String {
        value < 10 ? String(format: "%.2f", value) : String(format: "%.0f×", value)
    }

    /// Kibibytes as `12.3 MiB`.
    static func memory(kilobytes: Int) -> String { String(format: "%.1f MiB", Double(kilobytes) / 1024) }

    /// Rows padded into left-aligned columns, two spaces apart.
    static func table(_ rows: [[String]], indent: String = "  ") -> String {
        let widths = rows.reduce(into: [Int]()) { widths, row in
            for (index, cell) in row.enumerated() {
                if index >= widths.count { widths.append(0) }
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.map { row in
            indent + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// Pretty-printed, key-sorted JSON of `value`.
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
