import Compose
import Foundation
import Testing

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// `compose/sagaflow.yml`, the cluster every run and test starts.
let sagaflowComposePath = "\(repositoryRoot)/compose/sagaflow.yml"

@Suite("Compose file parsing")
struct ComposeFileTests {
    @Test func theRealFileDescribesTheClusterInDependencyOrder() throws {
        let file = try ComposeFile.load(path: sagaflowComposePath)
        #expect(Set(file.services.map(\.name)) == ["orchestrator", "orders", "payments", "booking"])
        #expect(file.services.last?.name == "orchestrator")
        #expect(file.secret?.isEmpty == false)
        let ports = Dictionary(uniqueKeysWithValues: file.services.map { ($0.name, $0.port) })
        #expect(ports == ["orchestrator": 8080, "orders": 8081, "payments": 8082, "booking": 8083])
        let orchestrator = try #require(file.service("orchestrator"))
        #expect(
            Set(orchestrator.dependencies.map(\.service)) == ["orders", "payments", "booking"]
                && orchestrator.dependencies.allSatisfy { $0.condition == .healthy })
        #expect(orchestrator.environment["SERVICES_PAYMENTS_URL"] == "${payments.url}")
        for service in file.services {
            #expect(service.restart == .onFailure, "\(service.name)")
            #expect(service.healthcheck?.url.hasSuffix("/health") == true, "\(service.name)")
            #expect(service.environment["HTTP_PORT"] == "${PORT}", "\(service.name)")
        }
        #expect(file.service("payments")?.environment["PAYMENTS_ACCOUNTS"] == "alice=1000000,bob=5000,carol=0")
        #expect(file.service("booking")?.environment["BOOKING_EVENTS"] == "concert=100000,club=10")
        #expect(file.service("orders")?.environment["ADMIN_ENABLED"] == "true")
    }

    @Test func servicesComeAfterWhatTheyDependOnWhateverTheFileOrder() throws {
        let file = try ComposeFile.parse(
            """
            services:
              api:
                command: [api, --verbose]
                depends_on: [db, cache]
              cache:
                command: cache
                depends_on: [db]
              db:
                command: [db]
                restart: "no"
            """, file: "order.yml")
        #expect(file.services.map(\.name) == ["db", "cache", "api"])
        #expect(file.service("api")?.command == ["api", "--verbose"])
        #expect(file.service("api")?.dependencies.map(\.condition) == [.started, .started])
        #expect(file.service("db")?.restart == .no)
    }

    @Test func healthcheckDurationsAndDefaults() throws {
        let file = try ComposeFile.parse(
            """
            services:
              web:
                command: [web]
                ports: [9000]
                healthcheck: {url: "http://127.0.0.1:${PORT}/health", interval: 250ms, retries: 4}
                environment: [GREETING=a=b, PRICE=$$5]
            """, file: "health.yml")
        let check = try #require(file.service("web")?.healthcheck)
        #expect(check.interval == .milliseconds(250))
        #expect(check.retries == 4)
        #expect(check.timeout == .seconds(2))
        #expect(file.service("web")?.environment == ["GREETING": "a=b", "PRICE": "$$5"])
        #expect(file.service("web")?.data == "web")
    }

    struct Mistake: Sendable, CustomTestStringConvertible {
        var what: String
        var yaml: String
        var code: ComposeError.Code
        var service: String?
        var key: String?
        var mentions: String
        var testDescription: String { what }
    }

    static let mistakes: [Mistake] = [
        Mistake(
            what: "unknown key in a service", yaml: "services:\n  orders:\n    comand: [orders]\n",
            code: .unknownKey, service: "orders", key: "comand", mentions: "unknown key"),
        Mistake(
            what: "unknown key in a healthcheck",
            yaml: "services:\n  orders:\n    command: [orders]\n    healthcheck: {url: http://x/health, intervall: 1s}\n",
            code: .unknownKey, service: "orders", key: "healthcheck.intervall", mentions: "interval"),
        Mistake(
            what: "unknown key at the top", yaml: "servics:\n  orders:\n    command: [orders]\n",
            code: .unknownKey, service: nil, key: "servics", mentions: "services"),
        Mistake(
            what: "unknown key in a dependency",
            yaml: "services:\n  a:\n    command: [a]\n    depends_on: {b: {conditon: service_started}}\n  b:\n    command: [b]\n",
            code: .unknownKey, service: "a", key: "depends_on.b.conditon", mentions: "condition"),
        Mistake(
            what: "missing command", yaml: "services:\n  orders:\n    ports: [\"8081\"]\n",
            code: .missingKey, service: "orders", key: "command", mentions: "missing"),
        Mistake(
            what: "dependency cycle",
            yaml: """
                services:
                  a: {command: [a], depends_on: [b]}
                  b: {command: [b], depends_on: [c]}
                  c: {command: [c], depends_on: [a]}
                  d: {command: [d]}
                """,
            code: .dependencyCycle, service: "a", key: "depends_on", mentions: "a → b → c → a"),
        Mistake(
            what: "service depending on itself", yaml: "services:\n  a: {command: [a], depends_on: [a]}\n",
            code: .dependencyCycle, service: "a", key: "depends_on", mentions: "a → a"),
        Mistake(
            what: "unknown dependency", yaml: "services:\n  a: {command: [a], depends_on: [ghost]}\n",
            code: .unknownDependency, service: "a", key: "depends_on.ghost", mentions: "'ghost'"),
        Mistake(
            what: "healthy condition on a service without healthcheck",
            yaml: "services:\n  a: {command: [a], depends_on: {b: {condition: service_healthy}}}\n  b: {command: [b]}\n",
            code: .invalidValue, service: "a", key: "depends_on.b.condition", mentions: "no healthcheck"),
        Mistake(
            what: "bad duration",
            yaml: "services:\n  a: {command: [a], healthcheck: {url: http://x/health, interval: soon}}\n",
            code: .invalidDuration, service: "a", key: "healthcheck.interval", mentions: "'soon'"),
        Mistake(
            what: "bad port", yaml: "services:\n  a: {command: [a], ports: [\"80x\"]}\n",
            code: .invalidPort, service: "a", key: "ports", mentions: "'80x'"),
        Mistake(
            what: "two ports", yaml: "services:\n  a: {command: [a], ports: [8080, 8081]}\n",
            code: .invalidPort, service: "a", key: "ports", mentions: "exactly one"),
        Mistake(
            what: "bad restart policy", yaml: "services:\n  a: {command: [a], restart: always}\n",
            code: .invalidRestart, service: "a", key: "restart", mentions: "on-failure"),
        Mistake(
            what: "unknown interpolation",
            yaml: "services:\n  a:\n    command: [a]\n    environment: {PEER: \"${nobody.url}\"}\n",
            code: .invalidInterpolation, service: "a", key: "environment.PEER", mentions: "nobody.url"),
        Mistake(
            what: "${PORT} in a service without ports",
            yaml: "services:\n  a: {command: [a, \"--port=${PORT}\"]}\n",
            code: .invalidInterpolation, service: "a", key: "command[1]", mentions: "${PORT}"),
        Mistake(
            what: "not YAML", yaml: "services: [unclosed\n",
            code: .malformedYAML, service: nil, key: nil, mentions: "not valid YAML"),
    ]

    @Test(arguments: mistakes)
    func eachMistakeIsNamed(_ mistake: Mistake) {
        #expect {
            _ = try ComposeFile.parse(mistake.yaml, file: "broken.yml")
        } throws: { error in
            guard let error = error as? ComposeError else { return false }
            #expect(error.code == mistake.code)
            #expect(error.service == mistake.service)
            #expect(error.key == mistake.key)
            #expect(error.description.hasPrefix("broken.yml: "))
            #expect(error.description.contains(mistake.mentions), "\(error)")
            if let key = mistake.key { #expect(error.description.contains("key '\(key)'")) }
            return error.code == mistake.code
        }
    }

    @Test func aMissingFileIsNamed() {
        #expect {
            _ = try ComposeFile.load(path: "/nonexistent/sagaflow.yml")
        } throws: { error in
            (error as? ComposeError)?.code == .unreadableFile
                && "\(error)".hasPrefix("/nonexistent/sagaflow.yml")
        }
    }
}
