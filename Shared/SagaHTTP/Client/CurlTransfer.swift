import CCurl

/// One request in flight on an easy handle. Lives only on the curl thread, from `start` to `finish`.
final class CurlTransfer {
    let request: CurlRequest
    let easy: UnsafeMutableRawPointer
    private let maxResponseBytes: Int
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var responseHeaders: [(name: String, value: String)] = []
    private var responseBody: [UInt8] = []
    private var exceededLimit = false

    init(request: CurlRequest, easy: UnsafeMutableRawPointer, maxResponseBytes: Int) {
        self.request = request
        self.easy = easy
        self.maxResponseBytes = maxResponseBytes
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// Sets every option the request needs on the (freshly reset) easy handle; the first failure, or CURLE_OK.
    ///
    /// The handle keeps an unretained pointer to `self` (write/header data, CURLOPT_PRIVATE). That is safe because
    /// the multi driver holds this transfer in its `active` table for as long as the handle is in the multi handle.
    func configure(connectTimeoutMilliseconds: Int) -> CURLcode {
        var failure = CURLE_OK
        func check(_ code: CURLcode) { if failure == CURLE_OK { failure = code } }

        for line in request.headerLines { headerList = curl_slist_append(headerList, line) }
        let me = Unmanaged.passUnretained(self).toOpaque()
        check(sagaflow_easy_setopt_str(easy, CURLOPT_URL, request.url))
        check(sagaflow_easy_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        check(sagaflow_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)))
        check(sagaflow_easy_setopt_str(easy, CURLOPT_PROXY, ""))
        check(sagaflow_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        check(sagaflow_easy_setopt_long(easy, CURLOPT_TCP_NODELAY, 1))
        check(sagaflow_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds))
        check(sagaflow_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMilliseconds))
        check(sagaflow_easy_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(maxResponseBytes)))
        check(sagaflow_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        check(sagaflow_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, headerList.map(UnsafeMutableRawPointer.init)))
        check(sagaflow_easy_setopt_ptr(easy, CURLOPT_PRIVATE, me))
        check(sagaflow_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me))
        check(sagaflow_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me))
        check(
            sagaflow_easy_setopt_write(easy) { data, size, count, context in
                guard let context else { return 0 }
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
                return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
            })
        check(
            sagaflow_easy_setopt_header(easy) { data, size, count, context in
                guard let context else { return 0 }
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
                transfer.receiveHeader(UnsafeRawBufferPointer(start: data, count: size * count))
                return size * count
            })

        // GET/HEAD/DELETE/OPTIONS without a body send none; anything else sends its body with a Content-Length.
        let method = request.method
        switch method {
        case "GET" where request.body.isEmpty:
            check(sagaflow_easy_setopt_long(easy, CURLOPT_HTTPGET, 1))
        case "HEAD" where request.body.isEmpty:
            check(sagaflow_easy_setopt_long(easy, CURLOPT_NOBODY, 1))
        case "DELETE" where request.body.isEmpty, "OPTIONS" where request.body.isEmpty:
            check(sagaflow_easy_setopt_str(easy, CURLOPT_CUSTOMREQUEST, method))
        default:
            // COPYPOSTFIELDS copies the bytes, so the body need not outlive this call; its size must be set first.
            check(sagaflow_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
            if request.body.isEmpty {
                check(sagaflow_easy_setopt_str(easy, CURLOPT_COPYPOSTFIELDS, ""))
            } else {
                request.body.withUnsafeBytes { bytes in
                    let bytes = UnsafeMutableRawPointer(mutating: bytes.baseAddress)
                    check(sagaflow_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, bytes))
                }
            }
            if method != "POST" { check(sagaflow_easy_setopt_str(easy, CURLOPT_CUSTOMREQUEST, method)) }
        }
        return failure
    }

    /// Appends body bytes; returning less than offered makes libcurl abort with CURLE_WRITE_ERROR.
    private func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        if let onBody = request.onBody {
            onBody(Array(bytes))
            return bytes.count
        }
        guard responseBody.count + bytes.count <= maxResponseBytes else {
            exceededLimit = true
            return 0
        }
        responseBody.append(contentsOf: bytes)
        return bytes.count
    }

    /// Collects one header line; a status line starts a new header block (after a 1xx response).
    private func receiveHeader(_ bytes: UnsafeRawBufferPointer) {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        if bytes.starts(with: "HTTP/".utf8) {
            responseHeaders.removeAll(keepingCapacity: true)
            return
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return }
        let value = bytes[(colon + 1)...].drop(while: isSpace)
        let end = value.lastIndex { !isSpace($0) }.map { $0 + 1 } ?? value.startIndex
        responseHeaders.append(
            (name: String(decoding: bytes[..<colon], as: UTF8.self),
             value: String(decoding: bytes[value.startIndex..<end], as: UTF8.self)))
    }

    /// The outcome once libcurl reports the transfer done with `code`.
    func outcome(_ code: CURLcode) -> Result<HTTPClientResponse, HTTPClientError> {
        // CURLE_FILESIZE_EXCEEDED (a Content-Length over the cap) maps to `.responseTooLarge` in `init(curlCode:)`.
        if exceededLimit {
            return .failure(.responseTooLarge.with(detail: "response body over \(maxResponseBytes) bytes"))
        }
        guard code == CURLE_OK else {
            return .failure(HTTPClientError(curlCode: code, message: String(cString: errorBuffer)))
        }
        var status = 0
        _ = sagaflow_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPClientResponse(status: status, headers: responseHeaders, body: responseBody))
    }
}
