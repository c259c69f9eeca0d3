import CCurl
import SagaProtocol

/// A request checked, signed and ready for the curl thread; the continuation receives its outcome.
struct CurlRequest: Sendable {
    typealias Continuation = CheckedContinuation<Result<HTTPClientResponse, HTTPClientError>, Never>

    var id: UInt64
    var method: String
    /// The URL as libcurl's parser normalized it, so the target curl sends is the one that was signed.
    var url: String
    /// `Name: value` lines, plus `Expect:` to switch off 100-continue.
    var headerLines: [String]
    var body: [UInt8]
    var timeoutMilliseconds: Int
    var onBody: (@Sendable ([UInt8]) -> Void)?
    var continuation: Continuation

    /// Validates `request`, signs it when `signer` is set, and packs it for the curl thread.
    init(
        _ request: HTTPClientRequest, id: UInt64, timeout: Duration, signer: RequestSigner?,
        continuation: Continuation
    ) throws(HTTPClientError) {
        let parsed = try ParsedURL(request.url)
        guard !request.method.isEmpty, request.method.allSatisfy({ $0.isLetter || $0 == "-" }) else {
            throw .other.with(detail: "invalid method '\(request.method)'")
        }
        var lines: [String] = []
        lines.reserveCapacity(request.headers.count + 2)
        for (name, value) in request.headers {
            // Refuse what would split or corrupt the header block rather than send it.
            guard !name.isEmpty, !name.contains(where: { $0 == ":" || $0.isNewline || $0.isWhitespace }),
                !value.contains(where: \.isNewline)
            else { throw .other.with(detail: "invalid header field '\(name)'") }
            if signer != nil, name.isHeaderName(signatureHeaderName) { continue }
            // libcurl drops a header written `Name:`; `Name;` is its spelling for an empty value.
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        if let signer {
            let signature = signer.signature(method: request.method, path: parsed.target, body: request.body)
            lines.append("\(signatureHeaderName): \(signature)")
        }
        lines.append("Expect:")
        self.id = id
        self.method = request.method
        self.url = parsed.url
        self.headerLines = lines
        self.body = request.body
        self.timeoutMilliseconds = timeout.wholeMilliseconds
        self.onBody = request.onBody
        self.continuation = continuation
    }
}

/// A URL as libcurl parses it: the normalized form and the request target (`path?query`) it will send.
struct ParsedURL {
    var url: String
    var target: String

    init(_ string: String) throws(HTTPClientError) {
        guard let handle = curl_url() else { throw .other.with(detail: "curl_url: out of memory") }
        defer { curl_url_cleanup(handle) }
        let parsed = curl_url_set(handle, CURLUPART_URL, string, 0)
        guard parsed == CURLUE_OK else {
            throw .invalidURL.with(detail: "'\(string)': \(String(cString: curl_url_strerror(parsed)))")
        }
        let scheme = Self.part(handle, CURLUPART_SCHEME)?.lowercased()
        guard scheme == "http" || scheme == "https", let url = Self.part(handle, CURLUPART_URL) else {
            throw .invalidURL.with(detail: "'\(string)': only http and https are supported")
        }
        let path = Self.part(handle, CURLUPART_PATH) ?? "/"
        self.url = url
        // libcurl sends the path and query exactly as its parser stores them (flags 0, as here).
        self.target = Self.part(handle, CURLUPART_QUERY).map { "\(path)?\($0)" } ?? path
    }

    private static func part(_ handle: OpaquePointer, _ which: CURLUPart) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard curl_url_get(handle, which, &value, 0) == CURLUE_OK, let value else { return nil }
        defer { curl_free(value) }
        return String(cString: value)
    }
}

extension Duration {
    /// Whole milliseconds, at least 1: libcurl reads a timeout of 0 as "no timeout".
    var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        guard seconds < Int64(Int.max / 1000) - 1 else { return Int.max / 1000 }
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}
