public import Logging
import SagaProtocol

/// An HTTP/1.1 client on libcurl for inter-service calls: kept-alive connections, a deadline on every request,
/// a cap on every response body, and request signing when configured.
///
/// Transfers run on one dedicated thread (see `CurlMulti`), never on Swift's cooperative pool; `execute` suspends
/// until its transfer is done. Cancelling the calling task abandons the transfer with `.cancelled`.
public final class HTTPClient: Sendable {
    /// The limits and signer this client was created with.
    public let configuration: HTTPClientConfiguration
    private let multi: CurlMulti
    private let logger: Logger

    /// A client with its own connection pool and thread; call `shutdown()` when done (deinit does it otherwise).
    public init(
        configuration: HTTPClientConfiguration = .init(), logger: Logger = Logger(label: "sagaflow.http-client")
    ) {
        self.configuration = configuration
        self.logger = logger
        self.multi = CurlMulti(configuration: configuration, logger: logger)
    }

    deinit {
        multi.shutdown()
    }

    /// Sends `request` and reads the whole response, failing with `.timeout` once `timeout` has passed.
    public func execute(
        _ request: HTTPClientRequest, timeout: Duration
    ) async throws(HTTPClientError) -> HTTPClientResponse {
        let id = multi.makeID()
        let signer = configuration.signer
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                do throws(HTTPClientError) {
                    multi.submit(
                        try CurlRequest(request, id: id, timeout: timeout, signer: signer, continuation: continuation))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        } onCancel: {
            multi.cancel(id)
        }
        switch outcome {
        case .success(let response):
            logger.trace(
                "http request done",
                metadata: [
                    "http.method": "\(request.method)", "http.url": "\(request.url)",
                    "http.status": "\(response.status)",
                ])
            return response
        case .failure(let error):
            logger.debug(
                "http request failed",
                metadata: [
                    "http.method": "\(request.method)", "http.url": "\(request.url)", "error.code": "\(error.code)",
                    "error.detail": "\(error.detail)",
                ])
            throw error
        }
    }

    /// GET `url`.
    public func get(
        _ url: String, headers: [(name: String, value: String)] = [], timeout: Duration = .seconds(10)
    ) async throws(HTTPClientError) -> HTTPClientResponse {
        try await execute(HTTPClientRequest(method: "GET", url: url, headers: headers), timeout: timeout)
    }

    /// POST `json` to `url` as `application/json`, encoded with `JSONCoding`.
    public func post(
        _ url: String, json: some Encodable & Sendable, headers: [(name: String, value: String)] = [],
        timeout: Duration = .seconds(10)
    ) async throws(HTTPClientError) -> HTTPClientResponse {
        try await execute(try Self.jsonRequest("POST", url, json, headers), timeout: timeout)
    }

    /// PUT `json` to `url` as `application/json`, encoded with `JSONCoding`.
    public func put(
        _ url: String, json: some Encodable & Sendable, headers: [(name: String, value: String)] = [],
        timeout: Duration = .seconds(10)
    ) async throws(HTTPClientError) -> HTTPClientResponse {
        try await execute(try Self.jsonRequest("PUT", url, json, headers), timeout: timeout)
    }

    /// DELETE `url`.
    public func delete(
        _ url: String, headers: [(name: String, value: String)] = [], timeout: Duration = .seconds(10)
    ) async throws(HTTPClientError) -> HTTPClientResponse {
        try await execute(HTTPClientRequest(method: "DELETE", url: url, headers: headers), timeout: timeout)
    }

    /// Stops the client's thread; requests in flight fail with `.cancelled`, and so does any later request.
    public func shutdown() {
        multi.shutdown()
    }

    private static func jsonRequest(
        _ method: String, _ url: String, _ value: some Encodable, _ headers: [(name: String, value: String)]
    ) throws(HTTPClientError) -> HTTPClientRequest {
        let body: [UInt8]
        do {
            body = Array(try JSONCoding.encode(value))
        } catch {
            throw .other.with(detail: "could not encode the JSON body: \(error)")
        }
        var headers = headers
        if !headers.contains(where: { $0.name.isHeaderName("Content-Type") }) {
            headers.append((name: "Content-Type", value: "application/json"))
        }
        return HTTPClientRequest(method: method, url: url, headers: headers, body: body)
    }
}
