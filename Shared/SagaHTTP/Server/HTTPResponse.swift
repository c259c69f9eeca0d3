public import SagaProtocol

/// What a handler answers.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// When set, the server closes the connection without writing anything (fault injection: a lost reply).
    public var dropsConnection: Bool

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
        self.dropsConnection = false
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
