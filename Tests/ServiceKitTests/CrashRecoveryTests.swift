import Foundation
import PaymentsService
import SagaHTTP
import SagaProtocol
import ServiceKit
import Testing
import TestSupport

/// The real `payments` executable, crashed by an injected fault right after its commit, then restarted.
@Suite struct CrashRecoveryTests {
    @Test func crashAfterCommitThenRestartGivesStoredReplyWithoutDoubleCharge() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let secret = "crash-test-secret"
        let client = HTTPClient(configuration: HTTPClientConfiguration(signer: RequestSigner(SigningSecrets(secret)!)))
        let faults = #"{"seed":1,"rules":[{"command":"AuthorizePayment","crash":"after-commit"}]}"#
        var process = try ChildProcess.launch(
            "\(binaryDirectory())/payments",
            environment: ["DATA_DIR": dir.path, "HTTP_PORT": "0", "SAGAFLOW_SECRET": secret, "SAGAFLOW_FAULTS": faults])
        var url = try await process.waitForPort()
        let command = CommandFactory().command(
            "AuthorizePayment", step: "authorize-payment", payload: ["orderId": "o-1", "customerId": "bob", "amount": 1200])
        do {
            _ = try await client.post("\(url)/commands", json: command)
            Issue.record("expected the process to crash before answering")
        } catch {
            #expect(error.isOutcomeUnknown)
        }
        #expect(try await process.waitForExit() == 86, "the injected crash exit code")

        process = try ChildProcess.launch(
            "\(binaryDirectory())/payments", environment: ["DATA_DIR": dir.path, "HTTP_PORT": "0", "SAGAFLOW_SECRET": secret])
        url = try await process.waitForPort()
        let retried = try await client.send(command, to: url)
        #expect(retried.outcome == .succeeded)
        let again = try await client.send(command, to: url)
        #expect(again == retried)
        #expect(try await client.get("\(url)/accounts/bob").decode(PaymentsService.Account.self).balance == 3800)
        let payments = try await client.get("\(url)/payments?orderId=o-1").decode([PaymentsService.Payment].self)
        #expect(payments.count == 1)
        process.terminate()
        #expect(try await process.waitForExit() == 0, "SIGTERM shuts down gracefully")
        client.shutdown()
    }
}
