public import Foundation

/// A length of time in a saga definition, written `50ms`, `2s`, `1m` or `1h`, kept in whole milliseconds.
///
/// Encodes as its canonical text (the largest unit that divides it exactly), so `2000ms` and `2s`
/// encode, compare and hash the same.
public struct SagaDuration: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The length in milliseconds.
    public var milliseconds: Int64

    /// A duration of `milliseconds`.
    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// A duration of whole `seconds`.
    public static func seconds(_ seconds: Int64) -> SagaDuration { SagaDuration(milliseconds: seconds * 1000) }

    /// A duration of `milliseconds`.
    public static func milliseconds(_ milliseconds: Int64) -> SagaDuration { SagaDuration(milliseconds: milliseconds) }

    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000),
    ]

    /// Parses `<digits><unit>` with unit `ms`, `s`, `m` or `h`; nil for anything else.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        let suffix = trimmed.dropFirst(digits.count)
        guard !digits.isEmpty, let value = Int64(digits),
            let unit = Self.units.first(where: { $0.suffix == suffix })
        else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: unit.milliseconds)
        guard !overflow else { return nil }
        self.milliseconds = product
    }

    /// The length as a `TimeInterval` (seconds).
    public var timeInterval: TimeInterval { Double(milliseconds) / 1000 }

    /// Canonical text: the largest unit that divides the length exactly.
    public var description: String {
        for unit in Self.units.reversed() where milliseconds != 0 && milliseconds % unit.milliseconds == 0 {
            return "\(milliseconds / unit.milliseconds)\(unit.suffix)"
        }
        return "\(milliseconds)ms"
    }

    public static func < (lhs: SagaDuration, rhs: SagaDuration) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = SagaDuration(parsing: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' is not a duration like 50ms, 2s or 1m")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
