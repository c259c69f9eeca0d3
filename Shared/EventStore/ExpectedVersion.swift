/// What the caller believes a stream's version is when it appends: the optimistic-concurrency check.
///
/// Versions count from 0: a stream's first event has version 0, so a stream of three events is at version 2.
public enum ExpectedVersion: Sendable, Hashable {
    /// The stream must not exist yet (it has no events).
    case noStream
    /// The stream's last event must have exactly this version.
    case exact(Int64)
    /// No check: append whatever the stream's version is.
    case any

    /// Expects the stream to be where `streamVersion` (as read from `EventStore.streamVersion`) says:
    /// `.noStream` for nil, `.exact(version)` otherwise.
    public init(streamVersion: Int64?) {
        self = streamVersion.map { .exact($0) } ?? .noStream
    }

    /// Whether a stream whose last version is `current` (nil: no stream) satisfies this expectation.
    func isSatisfied(by current: Int64?) -> Bool {
        switch self {
        case .noStream: current == nil
        case .exact(let version): current == version
        case .any: true
        }
    }
}

extension ExpectedVersion: CustomStringConvertible {
    public var description: String {
        switch self {
        case .noStream: "noStream"
        case .exact(let version): "exact(\(version))"
        case .any: "any"
        }
    }
}
