import Foundation
import SagaProtocol

/// How `EventMetadata` is kept in the store's `metadata` column: a JSON object without its nil fields.
///
/// Encoded by hand because it runs for every appended event, and a `JSONEncoder` costs several times more
/// than the few string appends this needs; decoded with the shared `JSONCoding` decoder.
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
        try JSONCoding.decode(EventMetadata.self, from: Data(column.utf8))
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
