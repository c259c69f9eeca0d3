public import Foundation

/// Generates unique ids; injected so tests can make them deterministic.
public protocol IdentifierGenerator: Sendable {
    /// A new id, unique in practice, with `prefix` for readability (`s-…`, `c-…`).
    func next(prefix: String) -> String
}

/// Time-ordered UUID ids (`TimeOrderedUUID`): what production uses.
public struct TimeOrderedIdentifierGenerator: IdentifierGenerator {
    public init() {}

    public func next(prefix: String) -> String {
        "\(prefix)-\(TimeOrderedUUID.make())"
    }
}

/// UUIDs of version 7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74 random bits.
///
/// Ids made later sort later, so every index keyed by them (a saga's stream, the inboxes, the view) grows at its
/// end and its working set stays the last pages however big the file gets. Random (version 4) ids put each insert
/// on an arbitrary page of the whole index: over a 100,000-saga run that cost grew with the files.
public enum TimeOrderedUUID {
    /// A new id in the usual lower-case 8-4-4-4-12 form.
    public static func make(now: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(now: now, using: &generator)
    }

    static func make(now: Date, using random: inout some RandomNumberGenerator) -> String {
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (high, low) = (random.next() as UInt64, random.next() as UInt64)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(index))) }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: high & 0x0f)  // version 7
        bytes[7] = UInt8(truncatingIfNeeded: high >> 8)
        bytes[8] = 0x80 | UInt8(truncatingIfNeeded: low & 0x3f)  // variant 10
        for index in 9..<16 { bytes[index] = UInt8(truncatingIfNeeded: low >> (8 * UInt64(index - 8))) }
        return UUID(uuid: bytes.withUnsafeBytes { $0.loadUnaligned(as: uuid_t.self) }).uuidString.lowercased()
    }
}
