public import SagaProtocol

/// What a handler answers.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// When set, the server closes the connection without writing anything (fault injection: a lost reply).
    public var dropsConnection: Bool
    /// When set, the body is streamed instead of `body`: the server sends the head (chunked, no length), runs
    /// this until it returns or the client goes away, then closes the connection.
    public var stream: (@Sendable (HTTPBodyWriter) async throws -> Void)?

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
        self.dropsConnection = false
    }

    /// A streamed response (server-sent events, long downloads); see `stream`.
    public static func streaming(
        status: Int = 200, headers: [(name: String, value: String)], _ body: @escaping @Sendable (HTTPBodyWriter) async throws -> Void
    ) -> HTTPResponse {
        var response = HTTPResponse(status: status, headers: headers)
        response.stream = body
        return response
    }

    /// A JSON body encoded with the shared configuration.
    public static func json(_ value: some Encodable, status: Int = 200) throws -> HTTPResponse {
        HTTPResponse(
            status: status, headers: [("Content-Type", "application/json")], body: Array(try JSONCoding.encode(value)))
    }

    /// An RFC 9457 problem body.
    public static func problem(_ problem: Problem) -> HTTPResponse {
        let body = (try? JSONCoding.encode(problem)).map(Array.init) ?? []
        return HTTPResponse(status: problem.status, headers: [("Content-Type", Problem.contentType)], body: body)
    }

    /// Closes the connection without answering.
    public static var dropConnection: HTTPResponse {
        var response = HTTPResponse(status: 0)
        response.dropsConnection = true
        return response
    }
}

/// Writes the parts of a streamed body, each sent to the socket at once.
public struct HTTPBodyWriter: Sendable {
    let send: @Sendable ([UInt8]) async throws -> Void
    let stopping: @Sendable () -> Bool

    /// Sends `bytes` now; throws once the client has gone away.
    public func write(_ bytes: [UInt8]) async throws { try await send(bytes) }

    /// Whether the server is shutting down: a stream should end soon.
    public var isStopping: Bool { stopping() }
}
