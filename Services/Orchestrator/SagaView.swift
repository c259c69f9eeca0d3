public import Foundation
public import SagaEngine
public import SagaProtocol

/// A saga as the API shows it (`GET /sagas/{id}`), derived from its state.
public struct SagaView: Codable, Sendable, Equatable {
    /// One step as the API shows it.
    public struct Step: Codable, Sendable, Equatable {
        public var name: String
        public var status: String
        public var attempts: Int
        public var output: JSONValue?
        public var error: ReplyError?
        public var compensationAttempts: Int
        public var compensationError: ReplyError?
    }

    public var id: String
    public var type: String
    public var status: SagaStatus
    public var definitionVersion: Int
    public var definitionHash: String
    public var input: JSONValue
    /// The input merged with every step's output (`orderId`, `paymentId`, `reservationId`, …).
    public var context: JSONValue
    public var steps: [Step]
    public var compensationReason: String?
    public var failureReason: String?
    public var deadline: Date?
    public var createdAt: Date?
    public var updatedAt: Date?

    /// The view of `state`, with the times of its first and last events.
    public init(_ state: SagaState, createdAt: Date?, updatedAt: Date?) {
        id = state.sagaId
        type = state.sagaType
        status = state.status
        definitionVersion = state.definition.version
        definitionHash = state.definition.hash
        input = state.input
        context = state.context
        steps = state.steps.map { step in
            Step(
                name: step.name, status: step.status.rawValue, attempts: step.attempts, output: step.output, error: step.error,
                compensationAttempts: step.compensationAttempts, compensationError: step.compensationError)
        }
        compensationReason = state.compensationReason
        failureReason = state.failureReason
        deadline = state.deadline
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
