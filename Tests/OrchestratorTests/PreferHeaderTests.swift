@testable import OrchestratorService
import SagaHTTP
import Testing

@Suite struct PreferHeaderTests {
    @Test(arguments: [
        ("wait=5", 5), ("respond-async, wait=7", 7), ("handling=lenient; wait=3", 3), (" wait=0 ", 0), ("wait=999", 60),
    ])
    func waitIsRead(_ header: String, _ seconds: Int) {
        let request = HTTPRequest(method: "POST", target: "/sagas", headers: [("Prefer", header)])
        #expect(Orchestrator.preferredWait(request) == .seconds(seconds))
    }

    @Test(arguments: ["", "wait=", "wait=abc", "wait=-1", "respond-async", "nowait=5"])
    func noWaitWithoutAValidOne(_ header: String) {
        let request = HTTPRequest(method: "POST", target: "/sagas", headers: [("Prefer", header)])
        #expect(Orchestrator.preferredWait(request) == nil)
    }
}
