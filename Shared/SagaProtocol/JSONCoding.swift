public import Foundation

/// The one JSON configuration every Sagaflow component uses on the wire.
public enum JSONCoding {
    /// Encoder: ISO-8601 dates, sorted keys so equal values give equal bytes. One shared instance: JSONEncoder
    /// is safe to use from many threads, and making one per call showed in the profile.
    public static let encoder = makeEncoder()

    /// A new encoder with the shared configuration, for a caller that changes it (pretty printing): the shared
    /// `encoder` must not be changed.
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Decoder: ISO-8601 dates; shared like `encoder`.
    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// Encodes `value` with the shared configuration.
    public static func encode(_ value: some Encodable) throws -> Data {
        try encoder.encode(value)
    }

    /// Decodes `type` from `data`, turning decoding errors into a `DecodingProblem` that names the field.
    public static func decode<T: Decodable>(_ type: T.Type, from data: some DataProtocol) throws(DecodingProblem) -> T {
        do {
            return try decoder.decode(type, from: Data(data))
        } catch let error as DecodingError {
            throw DecodingProblem(error)
        } catch {
            throw DecodingProblem(field: nil, message: "\(error)")
        }
    }
}

/// A body that could not be decoded, with the field at fault when there is one.
public struct DecodingProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// Dotted path of the field at fault, nil when the body is not JSON at all.
    public var field: String?
    /// What is wrong, for a person.
    public var message: String

    public init(field: String?, message: String) {
        self.field = field
        self.message = message
    }

    /// Describes a `DecodingError` by the field it is about.
    public init(_ error: DecodingError) {
        func path(_ codingPath: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            (codingPath + (last.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath, key)
            self.init(field: field, message: "missing field '\(field)'")
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            self.init(field: field, message: "field '\(field)' is not of type \(type)")
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            self.init(field: field, message: "field '\(field)' is null, expected \(type)")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if context.codingPath.isEmpty {
                self.init(field: nil, message: "malformed JSON: \(context.debugDescription)")
            } else {
                self.init(field: field, message: "field '\(field)': \(context.debugDescription)")
            }
        @unknown default:
            self.init(field: nil, message: "\(error)")
        }
    }

    public var description: String { message }
}
