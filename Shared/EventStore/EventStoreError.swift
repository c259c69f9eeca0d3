/// Why an event-store operation failed, with a stable code; the details are not compared.
public struct EventStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: String, Hashable, Sendable {
        case wrongExpectedVersion = "wrong_expected_version"
        case storeClosed = "store_closed"
        case io
    }

    /// The stream and versions of a failed optimistic-concurrency check.
    public struct VersionConflict: Hashable, Sendable {
        /// The stream appended to.
        public var stream: String
        /// What the caller expected.
        public var expected: ExpectedVersion
        /// The stream's actual version; nil when the stream does not exist.
        public var actual: Int64?

        public init(stream: String, expected: ExpectedVersion, actual: Int64?) {
            self.stream = stream
            self.expected = expected
            self.actual = actual
        }
    }

    private let base: Code
    /// What happened, for a person; excluded from `==` and `hash`.
    public private(set) var detail: String
    /// For `.wrongExpectedVersion`: which stream and versions; excluded from `==` and `hash`.
    public private(set) var conflict: VersionConflict?

    private init(_ base: Code, detail: String = "", conflict: VersionConflict? = nil) {
        self.base = base
        self.detail = detail
        self.conflict = conflict
    }

    /// The stream's version is not the expected one; nothing of the append was written.
    public static let wrongExpectedVersion = EventStoreError(.wrongExpectedVersion)
    /// The store was closed; the operation was not performed.
    public static let storeClosed = EventStoreError(.storeClosed)
    /// The database failed (disk full, I/O error, corrupt row, …); an append that fails so was not acknowledged.
    public static let io = EventStoreError(.io)

    /// A `.wrongExpectedVersion` error describing the conflict.
    static func wrongExpectedVersion(stream: String, expected: ExpectedVersion, actual: Int64?) -> EventStoreError {
        EventStoreError(
            .wrongExpectedVersion,
            detail: "stream '\(stream)' expected \(expected), actual \(actual.map(String.init) ?? "no stream")",
            conflict: VersionConflict(stream: stream, expected: expected, actual: actual))
    }

    /// An `.io` error carrying the underlying error's description.
    static func io(_ error: any Error) -> EventStoreError {
        EventStoreError(.io, detail: "\(error)")
    }

    /// The stable code, e.g. `wrong_expected_version`, for logs and problem+json.
    public var code: String { base.rawValue }

    public var description: String {
        detail.isEmpty ? base.rawValue : "\(base.rawValue): \(detail)"
    }

    public static func == (lhs: EventStoreError, rhs: EventStoreError) -> Bool {
        lhs.base == rhs.base
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(base)
    }
}
