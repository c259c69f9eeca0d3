import Foundation
import Synchronization

/// Named places where the orchestrator can be made to `_exit` (`SAGAFLOW_CRASH_AT`), for end-to-end tests.
///
/// Format: `point[:probability][,point[:probability]…]`, e.g. `after-append-dispatch` or `after-dispatch:0.2`.
public struct CrashPoints: Sendable {
    /// The named points.
    public enum Point: String, Sendable, CaseIterable {
        /// A decision's events are durable and a command is about to be sent.
        case afterAppendDispatch = "after-append-dispatch"
        /// A participant answered; the answer is not yet recorded.
        case afterDispatch = "after-dispatch"
        /// The events decided from a reply are durable; their effects have not run.
        case afterReplyAppend = "after-reply-append"
        /// A decision is made and about to be appended.
        case beforeAppend = "before-append"
    }

    let probabilities: [Point: Double]

    /// No crash points.
    public static let none = CrashPoints(probabilities: [:])

    init(probabilities: [Point: Double]) {
        self.probabilities = probabilities
    }

    /// Parses `SAGAFLOW_CRASH_AT`; an unknown point name is an error naming the known ones.
    public init(parsing text: String?) throws {
        var probabilities: [Point: Double] = [:]
        for entry in (text ?? "").split(separator: ",") {
            let parts = entry.split(separator: ":")
            guard let point = Point(rawValue: parts[0].trimmingCharacters(in: .whitespaces)) else {
                throw CrashPointError(
                    description:
                        "unknown crash point '\(parts[0])'; known: \(Point.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let probability = parts.count > 1 ? Double(parts[1]) : 1
            guard let probability, (0...1).contains(probability) else {
                throw CrashPointError(description: "crash point '\(entry)': probability must be within 0...1")
            }
            probabilities[point] = probability
        }
        self.probabilities = probabilities
    }

    /// Exits the process at once when `point` is armed and the draw hits.
    func hit(_ point: Point) {
        guard let probability = probabilities[point], Double.random(in: 0..<1) < probability else { return }
        FileHandle.standardError.write(Data("sagaflow: crash point \(point.rawValue) hit, exiting\n".utf8))
        _exit(87)
    }
}

/// A `SAGAFLOW_CRASH_AT` value that cannot be used.
public struct CrashPointError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
