import Foundation

/// Generates unique ids; injected so tests can make them deterministic.
public protocol IdentifierGenerator: Sendable {
    /// A new id, unique in practice, with `prefix` for readability (`s-…`, `c-…`).
    func next(prefix: String) -> String
}

/// Random UUID-based ids: what production uses.
public struct RandomIdentifierGenerator: IdentifierGenerator {
    public init() {}

    public func next(prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.lowercased())"
    }
}
