/// An RFC 9457 `application/problem+json` body with a stable machine-readable `code`.
public struct Problem: Codable, Sendable, Equatable, Error {
    /// A URI naming the problem type, `https://sagaflow.dev/problems/<code>`.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String?
    /// Stable code clients switch on (`payload_too_large`, `invalid_json`, `not_found`, …).
    public var code: String
    /// The request field at fault, when there is one.
    public var field: String?

    public init(status: Int, code: String, title: String, detail: String? = nil, field: String? = nil) {
        self.type = "https://sagaflow.dev/problems/\(code)"
        self.title = title
        self.status = status
        self.detail = detail
        self.code = code
        self.field = field
    }

    /// The code of a 401 for a request whose signature nonce the server has seen: the same request arrived
    /// before (libcurl resends a request once when a reused connection dies unanswered), so its effect is unknown.
    public static let signatureReplayed = "signature_replayed"

    /// The media type of a problem body.
    public static let contentType = "application/problem+json"
}
