import Foundation
import Logging
import SagaHTTP
import SagaProtocol
import Synchronization
import Testing
import TestSupport

@Suite("HTTPClient")
struct HTTPClientTests {
    // MARK: - Round trips and connection reuse

    @Test func roundTripsGetPostPutAndDelete() async throws {
        try await withServer(router: { _ in clientRouter() }) { server, _ in
            let client = HTTPClient(logger: quietLogger)
            defer { client.shutdown() }
            let base = "http://127.0.0.1:\(server.port)"

            let got = try await client.get("\(base)/items/42", headers: [("X-Trace", "abc")])
            #expect(got.status == 200)
            #expect(got.header("content-TYPE") == "application/json")
            #expect(try got.decode(Seen.self) == Seen(method: "GET", target: "/items/42", trace: "abc", body: nil))

            let sent = Item(n: 7, name: "größe ✓")
            let posted = try await client.post("\(base)/echo", json: sent)
            #expect(posted.status == 200)
            #expect(try posted.decode(Item.self) == sent)

            let put = try await client.put("\(base)/items/7", json: sent)
            #expect(try put.decode(Seen.self).body == sent)
            #expect(try put.decode(Seen.self).method == "PUT")

            let deleted = try await client.delete("\(base)/items/7?reason=test")
            let expected = Seen(method: "DELETE", target: "/items/7?reason=test", trace: nil, body: nil)
            #expect(try deleted.decode(Seen.self) == expected)

            let missing = try await client.get("\(base)/nowhere")
            #expect(missing.status == 404)
        }
    }

    @Test func sequentialRequestsReuseConnections() async throws {
        try await withServer(router: { _ in clientRouter() }) { server, _ in
            let client = HTTPClient(logger: quietLogger)
            defer { client.shutdown() }
            for n in 0..<1_000 {
                let response = try await client.post("http://127.0.0.1:\(server.port)/echo", json: Item(n: n))
                #expect(try response.decode(Item.self).n == n)
            }
            #expect((1...4).contains(server.connectionsAccepted), "opened \(server.connectionsAccepted) connections")
        }
    }

    @Test func concurrentRequestsAllSucceedWithTheirOwnBodies() async throws {
        try await withServer(router: { _ in clientRouter() }) { server, _ in
            let client = HTTPClient(logger: quietLogger)
            defer { client.shutdown() }
            let url = "http://127.0.0.1:\(server.port)/echo"
            let answered = try await withThrowingTaskGroup(of: (Int, Item).self) { group in
                for n in 0..<200 {
                    group.addTask {
                        (n, try await client.post(url, json: Item(n: n, name: "item \(n)")).decode(Item.self))
                    }
                }
                return try await group.reduce(into: [Int: Item]()) { $0[$1.0] = $1.1 }
            }
            #expect(answered.count == 200)
            #expect(answered.allSatisfy { $0.value == Item(n: $0.key, name: "item \($0.key)") })
            #expect(server.connectionsAccepted <= HTTPClientConfiguration().maxConnectionsPerHost)
        }
    }

    @Test func capsConnectionsPerHost() async throws {
        let inFlight = Mutex((now: 0, peak: 0))
        var router = Router()
        router.get("/slow") { _ in
            inFlight.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            // Holds each request briefly so that, without the cap, the burst would need many connections.
            try await Task.sleep(for: .milliseconds(20))
            inFlight.withLock { $0.now -= 1 }
            return HTTPResponse(status: 204)
        }
        try await withServer(router: { [router] _ in router }) { server, _ in
            let client = HTTPClient(configuration: .init(maxConnectionsPerHost: 3), logger: quietLogger)
            defer { client.shutdown() }
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<30 {
                    group.addTask { try await client.get("http://127.0.0.1:\(server.port)/slow").status }
                }
                for try await status in group { #expect(status == 204) }
            }
            #expect(server.connectionsAccepted <= 3)
            #expect(inFlight.withLock(\.peak) <= 3)
        }
    }

    // MARK: - Failures

    @Test func deadPortIsRefused() async throws {
        let client = HTTPClient(logger: quietLogger)
        defer { client.shutdown() }
        let port = try unusedLoopbackPort()
        let error = await failure(try await client.get("http://127.0.0.1:\(port)/x"))
        #expect(error == .connectionRefused)
        #expect(error?.isOutcomeUnknown == false)
    }

    @Test func serverThatNeverAnswersTimesOut() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let client = HTTPClient(logger: quietLogger)
        defer { client.shutdown() }
        let started = ContinuousClock.now
        let url = "http://127.0.0.1:\(listener.port)/steps"
        let error = await failure(try await client.post(url, json: Item(n: 1), timeout: .milliseconds(300)))
        let elapsed = ContinuousClock.now - started
        #expect(error == .timeout)
        #expect(error?.isOutcomeUnknown == true)
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(2), "took \(elapsed)")
        #expect(listener.connectionsAccepted == 1)
    }

    @Test func droppedConnectionIsAReset() async throws {
        try await withServer(router: { _ in clientRouter() }) { server, _ in
            let client = HTTPClient(logger: quietLogger)
            defer { client.shutdown() }
            let error = await failure(try await client.post("http://127.0.0.1:\(server.port)/drop", json: Item(n: 1)))
            #expect(error == .connectionReset)
            #expect(error?.isOutcomeUnknown == true)
        }
    }

    @Test func responseOverTheCapIsRefused() async throws {
        try await withServer(router: { _ in clientRouter() }) { server, _ in
            let client = HTTPClient(configuration: .init(maxResponseBytes: 1_000), logger: quietLogger)
            defer { client.shutdown() }
            let atCap = try await client.get("http://127.0.0.1:\(server.port)/bytes/1000")
            #expect(atCap.body.count == 1_000)
            let error = await failure(try await client.get("http://127.0.0.1:\(server.port)/bytes/1001"))
            #expect(error == .responseTooLarge)
        }
    }

    @Test(arguments: ["not a url", "ftp://127.0.0.1/file", "127.0.0.1:80/no-scheme", "http://[::1/bad"])
    func invalidURLsAreRefusedBeforeSending(url: String) async throws {
        let client = HTTPClient(logger: quietLogger)
        defer { client.shutdown() }
        let error = await failure(try await client.get(url))
        #expect(error == .invalidURL)
        #expect(error?.isOutcomeUnknown == false)
    }

    // MARK: - Signing

    @Test func signedRequestsPassTheServersVerifier() async throws {
        let secrets = try #require(SigningSecrets("s3cret"))
        try await withServer(
            HTTPServerConfiguration(verifier: SignatureVerifier(secrets)), router: { _ in clientRouter() }
        ) { server, _ in
            let url = "http://127.0.0.1:\(server.port)/signed/42?attempt=2&x=y"
            let signed = HTTPClient(configuration: .init(signer: RequestSigner(secrets)), logger: quietLogger)
            defer { signed.shutdown() }
            // Twice: each attempt carries a fresh nonce, so the verifier does not see a replay.
            for n in 1...2 {
                let response = try await signed.post(url, json: Item(n: n))
                #expect(response.status == 200)
                let seen = try response.decode(Seen.self)
                #expect(seen.target == "/signed/42?attempt=2&x=y")
                #expect(seen.body == Item(n: n))
            }

            let unsigned = HTTPClient(logger: quietLogger)
            defer { unsigned.shutdown() }
            #expect(try await unsigned.post(url, json: Item(n: 3)).status == 401)

            let forger = HTTPClient(
                configuration: .init(signer: RequestSigner(try #require(SigningSecrets("wrong")))), logger: quietLogger)
            defer { forger.shutdown() }
            #expect(try await forger.post(url, json: Item(n: 4)).status == 401)
        }
    }

    @Test func signatureCoversMethodTargetAndBodyAsSent() async throws {
        let secrets = try #require(SigningSecrets("s3cret"))
        let verifier = SignatureVerifier(secrets)
        let seen = Mutex<[HTTPRequest]>([])
        var router = Router()
        router.put("/accounts/{id}") { request in
            seen.withLock { $0.append(request) }
            return HTTPResponse(status: 204)
        }
        try await withServer(router: { [router] _ in router }) { server, _ in
            let client = HTTPClient(configuration: .init(signer: RequestSigner(secrets)), logger: quietLogger)
            defer { client.shutdown() }
            let response = try await client.put(
                "http://127.0.0.1:\(server.port)/accounts/a%20b?from=1", json: Item(n: 5),
                headers: [(signatureHeaderName, "caller's stale value")])
            #expect(response.status == 204)
            let first = seen.withLock { $0.first }
            let request = try #require(first)
            #expect(request.target == "/accounts/a%20b?from=1")
            #expect(request.headers.filter { $0.name == signatureHeaderName }.count == 1)
            #expect(throws: Never.self) {
                try verifier.verify(
                    header: request.header(signatureHeaderName), method: "PUT", path: request.target,
                    body: request.body)
            }
            #expect(throws: SignatureError.forged) {
                try verifier.verify(
                    header: request.header(signatureHeaderName), method: "PUT", path: "/accounts/other?from=1",
                    body: request.body)
            }
        }
    }

    // MARK: - Cancellation and shutdown

    @Test func cancellingTheTaskEndsARequestPromptly() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let client = HTTPClient(logger: quietLogger)
        defer { client.shutdown() }
        let task = Task { await hangingRequest(client, listener) }
        try await waitUntil("the request reaches the server") { listener.connectionsAccepted == 1 }
        let cancelled = ContinuousClock.now
        task.cancel()
        let result = await task.value
        #expect(ContinuousClock.now - cancelled < .seconds(5), "promptly: far below the request's 30 s timeout, with room for a loaded machine")
        #expect(result.failure == .cancelled)
    }

    @Test func alreadyCancelledTaskSendsNothing() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let client = HTTPClient(logger: quietLogger)
        defer { client.shutdown() }
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await hangingRequest(client, listener)
        }
        #expect(await task.value.failure == .cancelled)
        #expect(listener.connectionsAccepted == 0)
    }

    @Test func hangingRequestsDoNotHoldTheCooperativePool() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let client = HTTPClient(logger: quietLogger)
        defer { client.shutdown() }
        // Far more hanging requests than the pool has threads: a client that blocked a thread per request
        // would leave nothing to run the request below or the test itself.
        let hanging = (0..<32).map { _ in Task { await hangingRequest(client, listener) } }
        try await waitUntil("every request reaches the server") { listener.connectionsAccepted == 32 }
        try await withServer(router: { _ in clientRouter() }) { server, _ in
            let response = try await client.post("http://127.0.0.1:\(server.port)/echo", json: Item(n: 1))
            #expect(try response.decode(Item.self) == Item(n: 1))
        }
        for task in hanging { task.cancel() }
        for task in hanging { #expect(await task.value.failure == .cancelled) }
    }

    @Test func shutdownFailsPendingAndLaterRequests() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let client = HTTPClient(logger: quietLogger)
        let task = Task { await hangingRequest(client, listener) }
        try await waitUntil("the request reaches the server") { listener.connectionsAccepted == 1 }
        client.shutdown()
        #expect(await task.value.failure == .cancelled)
        #expect(await failure(try await client.get("http://127.0.0.1:\(listener.port)/later")) == .cancelled)
    }
}

// MARK: - Fixtures

/// A JSON body the tests send and expect back.
private struct Item: Codable, Sendable, Equatable {
    var n: Int
    var name = ""
}

/// What the server saw of a request.
private struct Seen: Codable, Sendable, Equatable {
    var method: String
    var target: String
    var trace: String?
    var body: Item?
}

/// Routes for the client tests: echo, a description of the request, sized bodies, a dropped connection, and a
/// signed route.
private func clientRouter() -> Router {
    var router = Router()
    @Sendable func describe(_ request: HTTPRequest) throws -> HTTPResponse {
        let body = request.body.isEmpty ? nil : try request.decode(Item.self)
        let trace = request.header("x-trace")
        return try .json(Seen(method: request.method, target: request.target, trace: trace, body: body))
    }
    router.post("/echo") { request in
        HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: request.body)
    }
    router.get("/items/{id}", describe)
    router.put("/items/{id}", describe)
    router.delete("/items/{id}", describe)
    router.post("/signed/{id}", signed: true, describe)
    router.get("/bytes/{count}") { request in
        let count = Int(request.parameter("count")) ?? 0
        return HTTPResponse(status: 200, body: Array(repeating: UInt8(ascii: "x"), count: count))
    }
    router.post("/drop") { _ in .dropConnection }
    return router
}

/// The error `request` fails with, or nil when it succeeds.
private func failure(
    _ request: @autoclosure () async throws(HTTPClientError) -> HTTPClientResponse
) async -> HTTPClientError? {
    await outcome(try await request()).failure
}

/// A GET to `listener` with a long timeout: it ends only by cancellation or shutdown.
private func hangingRequest(
    _ client: HTTPClient, _ listener: SilentListener
) async -> Result<HTTPClientResponse, HTTPClientError> {
    await outcome(try await client.get("http://127.0.0.1:\(listener.port)/hang", timeout: .seconds(30)))
}

/// `request`'s outcome as a `Result`, so a task can hand back the typed error.
private func outcome(
    _ request: @autoclosure () async throws(HTTPClientError) -> HTTPClientResponse
) async -> Result<HTTPClientResponse, HTTPClientError> {
    do {
        return .success(try await request())
    } catch {
        return .failure(error)
    }
}

extension Result {
    /// The error, or nil on success.
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
