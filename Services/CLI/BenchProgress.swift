import Foundation

/// Shows how far a benchmark is on stderr: a bar redrawn ten times a second on a terminal, otherwise a line
/// every five seconds (logs and CI stay readable).
struct BenchProgress: Sendable {
    /// What is being counted, e.g. `sagas`.
    var label: String
    /// How many are expected in all; 0 when the run is bounded by time instead.
    var total: Int
    /// Whether stderr is a terminal.
    var isTerminal = isatty(STDERR_FILENO) == 1

    /// Reports `recorder`'s progress until the calling task is cancelled, then clears the bar.
    func run(_ recorder: LatencyRecorder) async {
        let start = ContinuousClock.now
        let interval: Duration = isTerminal ? .milliseconds(100) : .seconds(5)
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { break }
            let (done, p99) = recorder.progress
            let elapsed = (ContinuousClock.now - start).inSeconds
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            let figures = "\(done)\(total > 0 ? "/\(total)" : "") \(label)  \(Format.rate(rate))  p99 \(Format.ms(p99.inMicroseconds / 1000)) ms"
            if isTerminal {
                write("\r\u{1B}[2K" + (total > 0 ? bar(Double(done) / Double(total)) + " " : "") + figures)
            } else {
                write(String(format: "[%5.1fs] ", elapsed) + figures + "\n")
            }
        }
        if isTerminal { write("\r\u{1B}[2K") }
    }

    private func bar(_ fraction: Double) -> String {
        let width = 30
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
