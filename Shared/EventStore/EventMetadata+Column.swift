import Foundation
import SagaProtocol

/// How `EventMetadata` is kept in the store's `metadata` column: a JSON object without its nil fields.
///
/// Encoded and, in the usual case, decoded by hand: this runs for every event appended and every event read, and
/// a `JSONEncoder`/`JSONDecoder` costs many times more than the few string operations it needs (reading a row's
/// metadata with `JSONDecoder` was 1.6% of the orchestrator's CPU). Anything unusual (escapes, whitespace, `null`,
/// another key) goes to the shared `JSONCoding` decoder.
enum EventMetadataColumn {
    static func encode(_ metadata: EventMetadata) -> String {
        var json = "{"
        for (name, value) in [
            ("causationId", metadata.causationId), ("correlationId", metadata.correlationId),
            ("traceparent", metadata.traceparent),
        ] {
            guard let value else { continue }
            if json.utf8.count > 1 { json += "," }
            json += "\"\(name)\":"
            appendQuoted(value, to: &json)
        }
        return json + "}"
    }

    static func decode(_ column: String) throws -> EventMetadata {
        var column = column
        if let metadata = column.withUTF8(readPlain) { return metadata }
        return try JSONCoding.decode(EventMetadata.self, from: Data(column.utf8))
    }

    /// Reads `{"name":"value",…}` with no escapes, no whitespace and only the known names; nil for anything else.
    private static func readPlain(_ bytes: UnsafeBufferPointer<UInt8>) -> EventMetadata? {
        let quote = UInt8(ascii: "\"")
        guard !bytes.contains(UInt8(ascii: "\\")) else { return nil }
        var index = 0
        func skip(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        func string() -> String? {
            guard skip(quote) else { return nil }
            let start = index
            while index < bytes.count, bytes[index] != quote { index += 1 }
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }
        var metadata = EventMetadata()
        guard skip(UInt8(ascii: "{")) else { return nil }
        if !skip(UInt8(ascii: "}")) {
            repeat {
                guard let name = string(), skip(UInt8(ascii: ":")), let value = string() else { return nil }
                switch name {
                case "causationId": metadata.causationId = value
                case "correlationId": metadata.correlationId = value
                case "traceparent": metadata.traceparent = value
                default: return nil
                }
            } while skip(UInt8(ascii: ","))
            guard skip(UInt8(ascii: "}")) else { return nil }
        }
        return index == bytes.count ? metadata : nil
    }

    /// Appends `value` as a JSON string literal, escaping what RFC 8259 requires.
    private static func appendQuoted(_ value: String, to json: inout String) {
        json += "\""
        guard value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            json += value
            return json += "\""
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            case _ where scalar.value < 0x20: json += String(format: "\\u%04x", scalar.value)
            default: json.unicodeScalars.append(scalar)
            }
        }
        json += "\""
    }
}
