import SagaProtocol

/// A complete response: status, header fields in order, and the whole body (within `maxResponseBytes`).
public struct HTTPClientResponse: Sendable {
    /// The status code, e.g. 200.
    public var status: Int
    /// Header fields in the order received, names as sent.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: [UInt8]

    /// A response, as the client builds it (and as tests may to stub one).
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.isHeaderName(name) }?.value
    }

    /// Decodes the JSON body with the shared configuration; throws a `DecodingProblem` naming the field at fault.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONCoding.decode(type, from: body)
    }
}

extension String {
    /// Whether this header name equals `other`; header names compare case-insensitively.
    func isHeaderName(_ other: String) -> Bool {
        utf8.count == other.utf8.count && lowercased() == other.lowercased()
    }
}
