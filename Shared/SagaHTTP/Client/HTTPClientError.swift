import CCurl

/// Why an outbound HTTP request failed, with a stable code; `detail` says more for a person and is not compared.
public struct HTTPClientError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: String, Hashable, Sendable {
        case connectionRefused = "connection_refused"
        case timeout
        case connectionReset = "connection_reset"
        case responseTooLarge = "response_too_large"
        case invalidURL = "invalid_url"
        case cancelled
        case other
    }

    private let base: Code
    /// What happened in detail (libcurl's message, the URL, …); excluded from `==` and `hash`.
    public var detail: String

    private init(_ base: Code, detail: String = "") {
        self.base = base
        self.detail = detail
    }

    /// Nothing accepted the connection (or the host did not resolve); the request was never sent.
    public static let connectionRefused = HTTPClientError(.connectionRefused)
    /// The deadline passed before the whole response arrived.
    public static let timeout = HTTPClientError(.timeout)
    /// The connection broke, or the server closed it without answering, after the request may have been sent.
    public static let connectionReset = HTTPClientError(.connectionReset)
    /// The response body is larger than `HTTPClientConfiguration.maxResponseBytes`.
    public static let responseTooLarge = HTTPClientError(.responseTooLarge)
    /// The URL could not be parsed, or its scheme is not http/https.
    public static let invalidURL = HTTPClientError(.invalidURL)
    /// The calling task was cancelled, or the client was shut down, before the response arrived.
    public static let cancelled = HTTPClientError(.cancelled)
    /// Any other failure; `detail` says which.
    public static let other = HTTPClientError(.other)

    /// The same error carrying `detail`.
    func with(detail: String) -> HTTPClientError {
        HTTPClientError(base, detail: detail)
    }

    /// The stable code, e.g. `connection_refused`, for logs and problem+json.
    public var code: String { base.rawValue }

    /// True when the server may have applied the request although no response was read (a retry must be idempotent).
    public var isOutcomeUnknown: Bool {
        switch base {
        case .connectionRefused, .invalidURL: false
        case .timeout, .connectionReset, .responseTooLarge, .cancelled, .other: true
        }
    }

    public var description: String {
        detail.isEmpty ? base.rawValue : "\(base.rawValue): \(detail)"
    }

    public static func == (lhs: HTTPClientError, rhs: HTTPClientError) -> Bool {
        lhs.base == rhs.base
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(base)
    }
}

extension HTTPClientError {
    /// Maps a failed transfer's libcurl result; `message` is libcurl's error buffer, when it said anything.
    init(curlCode: CURLcode, message: String) {
        let text = message.isEmpty ? String(cString: curl_easy_strerror(curlCode)) : message
        let detail = "\(text) (curl \(curlCode.rawValue))"
        switch curlCode {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST:
            self.init(.connectionRefused, detail: detail)
        case CURLE_OPERATION_TIMEDOUT:
            self.init(.timeout, detail: detail)
        case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE:
            self.init(.connectionReset, detail: detail)
        case CURLE_FILESIZE_EXCEEDED:
            self.init(.responseTooLarge, detail: detail)
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            self.init(.invalidURL, detail: detail)
        default:
            self.init(.other, detail: detail)
        }
    }
}
