import Foundation
import SagaEngine
import SagaProtocol
import Testing
import TestSupport

@Suite("Saga definitions")
struct DefinitionTests {
    static let valid = """
        name: demo
        version: 2
        deadline: 1m
        steps:
          - {name: a, service: one, action: A, compensation: UndoA, timeout: 500ms, retry: {attempts: 4, backoff: 10ms}}
          - {name: b, service: two, action: B, pivot: true}
          - {name: c, service: one, action: C}
        """

    @Test func parsesAValidDefinitionWithDefaults() throws {
        let definition = try SagaDefinition(yaml: Self.valid, file: "demo.yml")
        #expect(definition.name == "demo")
        #expect(definition.version == 2)
        #expect(definition.deadline == .seconds(60))
        #expect(definition.maxCompensationAttempts == SagaDefinition.defaultMaxCompensationAttempts)
        #expect(definition.steps.map(\.name) == ["a", "b", "c"])
        #expect(definition.pivotIndex == 1)
        #expect(definition.steps[0].timeout == .milliseconds(500))
        #expect(definition.steps[0].retry.attempts == 4)
        #expect(definition.steps[0].retry.backoff.initial == .milliseconds(10))
        #expect(definition.steps[0].retry.backoff.maximum == RetryPolicy.default.backoff.maximum)
        #expect(definition.steps[2].retry == .default)
        #expect(definition.steps[2].effectiveTimeout == StepDefinition.defaultTimeout)
    }

    @Test func placeOrderLoadsFromTheComposeFolder() throws {
        let definition = try Definitions.placeOrder()
        #expect(definition.name == "place-order")
        #expect(definition.steps.map(\.action) == ["CreateOrder", "AuthorizePayment", "ReserveSeats", "ApproveOrder"])
        #expect(definition.steps.map(\.compensation) == ["CancelOrder", "RefundPayment", "ReleaseSeats", nil])
        #expect(definition.pivotIndex == 3)
        #expect(definition.deadline == .seconds(30))
        #expect(definition.steps[1].retry == RetryPolicy(
            attempts: 5, backoff: Backoff(initial: .milliseconds(50), maximum: .seconds(2))))
    }

    @Test func hashIgnoresFormattingButNotContent() throws {
        let reformatted = """
            # same saga, other layout
            version: 2
            name: demo
            deadline: 60s
            steps:
              - name: a
                service: one
                action: A
                compensation: UndoA
                timeout: 500ms
                retry:
                  attempts: 4
                  backoff: 10ms
                  maxBackoff: 5s
              - {name: b, service: two, action: B, pivot: true}
              - {name: c, service: one, action: C, pivot: false}
            """
        let original = try SagaDefinition(yaml: Self.valid, file: "a.yml")
        #expect(try SagaDefinition(yaml: reformatted, file: "b.yml").hash == original.hash)
        let changed = try SagaDefinition(yaml: Self.valid.replacingOccurrences(of: "action: C", with: "action: D"), file: "c.yml")
        #expect(changed.hash != original.hash)
        #expect(original.hash.count == 16)
    }

    @Test func codableFormRoundTrips() throws {
        let definition = try Definitions.placeOrder()
        let decoded = try JSONCoding.decode(SagaDefinition.self, from: JSONCoding.encode(definition))
        #expect(decoded == definition)
        #expect(decoded.hash == definition.hash)
    }

    struct Invalid: Sendable, CustomStringConvertible {
        var label: String
        var yaml: String
        var code: DefinitionError.Code
        var step: String?
        var key: String?
        var description: String { label }
    }

    static let invalid: [Invalid] = [
        Invalid(label: "not YAML", yaml: "name: [unclosed", code: .malformedYAML),
        Invalid(label: "empty file", yaml: "", code: .malformedYAML),
        Invalid(label: "top level is a list", yaml: "- a\n- b", code: .malformedYAML),
        Invalid(label: "unknown saga field", yaml: "name: x\nversion: 1\ndeadlin: 2s\nsteps: []", code: .unknownField,
                key: "deadlin"),
        Invalid(label: "unknown step field", yaml: steps("{name: a, service: s, action: A, pivot: true, timout: 2s}"),
                code: .unknownField, step: "a", key: "timout"),
        Invalid(label: "unknown retry field", yaml: steps("{name: a, service: s, action: A, pivot: true, retry: {tries: 2}}"),
                code: .unknownField, step: "a", key: "retry.tries"),
        Invalid(label: "missing name", yaml: "version: 1\nsteps: []", code: .missingField, key: "name"),
        Invalid(label: "missing version", yaml: "name: x\nsteps: []", code: .missingField, key: "version"),
        Invalid(label: "no steps", yaml: "name: x\nversion: 1\nsteps: []", code: .noSteps, key: "steps"),
        Invalid(label: "step without service", yaml: steps("{name: a, action: A, pivot: true}"), code: .missingField,
                step: "a", key: "service"),
        Invalid(label: "step without action", yaml: steps("{name: a, service: s, pivot: true}"), code: .missingField,
                step: "a", key: "action"),
        Invalid(label: "step without name", yaml: steps("{service: s, action: A, pivot: true}"), code: .missingField,
                step: "#1", key: "name"),
        Invalid(label: "duplicate step", yaml: steps("{name: a, service: s, action: A, compensation: U}",
                                                     "{name: a, service: s, action: B, pivot: true}"),
                code: .duplicateStep, step: "a", key: "name"),
        Invalid(label: "compensation on pivot", yaml: steps("{name: a, service: s, action: A, compensation: U, pivot: true}"),
                code: .compensationOnPivot, step: "a", key: "compensation"),
        Invalid(label: "compensation after pivot", yaml: steps("{name: a, service: s, action: A, pivot: true}",
                                                               "{name: b, service: s, action: B, compensation: U}"),
                code: .unusedCompensation, step: "b", key: "compensation"),
        Invalid(label: "missing compensation before pivot", yaml: steps("{name: a, service: s, action: A}",
                                                                        "{name: b, service: s, action: B, pivot: true}"),
                code: .missingCompensation, step: "a", key: "compensation"),
        Invalid(label: "missing compensation without pivot", yaml: steps("{name: a, service: s, action: A}"),
                code: .missingCompensation, step: "a", key: "compensation"),
        Invalid(label: "two pivots", yaml: steps("{name: a, service: s, action: A, pivot: true}",
                                                 "{name: b, service: s, action: B, pivot: true}"),
                code: .multiplePivots, step: "b", key: "pivot"),
        Invalid(label: "duration without unit", yaml: steps("{name: a, service: s, action: A, pivot: true, timeout: 2}"),
                code: .invalidDuration, step: "a", key: "timeout"),
        Invalid(label: "duration with bad unit", yaml: steps("{name: a, service: s, action: A, pivot: true, timeout: 2d}"),
                code: .invalidDuration, step: "a", key: "timeout"),
        Invalid(label: "zero duration", yaml: "name: x\nversion: 1\ndeadline: 0s\nsteps: []", code: .invalidDuration,
                key: "deadline"),
        Invalid(label: "backoff above its ceiling",
                yaml: steps("{name: a, service: s, action: A, pivot: true, retry: {backoff: 2s, maxBackoff: 1s}}"),
                code: .invalidValue, step: "a", key: "retry.maxBackoff"),
        Invalid(label: "zero attempts", yaml: steps("{name: a, service: s, action: A, pivot: true, retry: {attempts: 0}}"),
                code: .invalidValue, step: "a", key: "retry.attempts"),
        Invalid(label: "pivot not a bool", yaml: steps("{name: a, service: s, action: A, pivot: maybe}"),
                code: .invalidValue, step: "a", key: "pivot"),
        Invalid(label: "duplicate key", yaml: "name: x\nname: y\nversion: 1\nsteps: []", code: .malformedYAML),
    ]

    static func steps(_ steps: String...) -> String {
        "name: x\nversion: 1\nsteps:\n" + steps.map { "  - \($0)" }.joined(separator: "\n")
    }

    @Test(arguments: invalid)
    func refusesInvalidDefinitions(_ example: Invalid) {
        #expect {
            try SagaDefinition(yaml: example.yaml, file: "bad.yml")
        } throws: { error in
            guard let error = error as? DefinitionError else { return false }
            return error.code == example.code && error.file == "bad.yml" && error.step == example.step
                && error.key == example.key
        }
    }

    @Test func errorDescriptionNamesFileStepAndKey() {
        let error = DefinitionError(.unknownField, file: "x.yml", step: "a", key: "timout", message: "unknown field")
        #expect(error.description == "x.yml: step 'a': key 'timout': unknown field")
    }

    @Test(arguments: [("50ms", 50), ("2s", 2000), ("1m", 60_000), ("1h", 3_600_000), ("1500ms", 1500)] as [(String, Int64)])
    func parsesDurations(_ text: String, _ milliseconds: Int64) {
        #expect(SagaDuration(parsing: text)?.milliseconds == milliseconds)
    }

    @Test(arguments: ["", "2", "s", "1.5s", "-2s", "2 s x", "1d", "99999999999999999999h"])
    func refusesBadDurations(_ text: String) {
        #expect(SagaDuration(parsing: text) == nil)
    }

    @Test func durationsPrintCanonically() {
        #expect(SagaDuration.milliseconds(2000).description == "2s")
        #expect(SagaDuration.milliseconds(1500).description == "1500ms")
        #expect(SagaDuration.milliseconds(120_000).description == "2m")
    }
}

@Suite("Definition registry")
struct DefinitionRegistryTests {
    @Test func loadsTheComposeFolder() throws {
        let registry = try DefinitionRegistry.load(directory: Definitions.sagasDirectory)
        let placeOrder = try #require(registry.latest(named: "place-order"))
        #expect(registry.definition(named: "place-order", hash: placeOrder.hash) == placeOrder)
        #expect(registry.latest.map(\.name).contains("place-order"))
    }

    @Test func keepsSupersededDefinitionsByHash() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = URL(fileURLWithPath: directory.path)
        let file = url.appendingPathComponent("demo.yml")
        try DefinitionTests.valid.write(to: file, atomically: true, encoding: .utf8)
        var registry = try DefinitionRegistry.load(directory: url)
        let first = try #require(registry.latest(named: "demo"))

        try DefinitionTests.valid.replacingOccurrences(of: "version: 2", with: "version: 3")
            .write(to: file, atomically: true, encoding: .utf8)
        try registry.reload(directory: url)
        let second = try #require(registry.latest(named: "demo"))
        #expect(second.version == 3)
        #expect(registry.definition(named: "demo", hash: first.hash) == first)
        #expect(registry.definition(named: "other", hash: first.hash) == nil)
    }

    @Test func refusesTwoFilesForOneSaga() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = URL(fileURLWithPath: directory.path)
        try DefinitionTests.valid.write(to: url.appendingPathComponent("a.yml"), atomically: true, encoding: .utf8)
        try DefinitionTests.valid.write(to: url.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        #expect {
            try DefinitionRegistry.load(directory: url)
        } throws: { error in
            (error as? DefinitionError)?.code == .duplicateSaga && (error as? DefinitionError)?.file == "b.yaml"
        }
    }
}
