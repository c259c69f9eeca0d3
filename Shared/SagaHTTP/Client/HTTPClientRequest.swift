/// One outbound request: method, absolute `http://` URL, header fields and body.
public struct HTTPClientRequest: Sendable {
    /// Upper-case method, `GET`, `POST`, …
    public var method: String
    /// Absolute URL, e.g. `http://127.0.0.1:8080/steps/reserve?attempt=2`.
    public var url: String
    /// Header fields to send in order; the client adds `Sagaflow-Signature` itself when it signs.
    public var headers: [(name: String, value: String)]
    /// The body; empty sends none for GET, HEAD, DELETE and OPTIONS, and `Content-Length: 0` otherwise.
    public var body: [UInt8]
    /// When set, the response body is handed over here as it arrives (server-sent events) instead of being
    /// collected, and not capped; the response's `body` is then empty. Called on the client's thread: be quick.
    public var onBody: (@Sendable ([UInt8]) -> Void)?

    /// A request; `method` defaults to GET.
    public init(
        method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        onBody: (@Sendable ([UInt8]) -> Void)? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.onBody = onBody
    }
}
