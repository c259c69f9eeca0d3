public import Foundation

/// Times in saga events: whole milliseconds, written as ISO-8601 with a millisecond fraction
/// (`2025-05-01T12:00:00.050Z`), so events survive a round trip through JSON unchanged and a state
/// rebuilt from stored events equals the one built while deciding.
public enum EventTimestamp {
    /// `date` truncated to whole milliseconds since 1970: every time `decide` puts in an event.
    public static func rounded(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds(date)) / 1000)
    }

    /// `date` plus `duration`, in whole milliseconds.
    public static func adding(_ duration: SagaDuration, to date: Date) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds(date) + duration.milliseconds) / 1000)
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func format(_ date: Date) -> String {
        // Rounding to the nearest millisecond recovers exactly the integer a rounded date was made from.
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let fraction = ((millis % 1000) + 1000) % 1000
        let whole = Date(timeIntervalSince1970: Double((millis - fraction) / 1000))
        let text = whole.formatted(Date.ISO8601FormatStyle())
        let digits = String(fraction)
        return text.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    static func parse(_ text: String) -> Date? {
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        guard let date = (try? withFraction.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text)) else {
            return nil
        }
        return Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }
}

extension KeyedEncodingContainer {
    mutating func encodeTimestamp(_ date: Date?, forKey key: Key) throws {
        if let date { try encode(EventTimestamp.format(date), forKey: key) }
    }
}

extension KeyedDecodingContainer {
    func decodeTimestamp(forKey key: Key) throws -> Date {
        let text = try decode(String.self, forKey: key)
        guard let date = EventTimestamp.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not an ISO-8601 time")
        }
        return date
    }

    func decodeTimestampIfPresent(forKey key: Key) throws -> Date? {
        try contains(key) && !decodeNil(forKey: key) ? decodeTimestamp(forKey: key) : nil
    }
}
