public import Foundation
public import SagaProtocol

/// One event of a saga's stream `saga-<id>` (ARCHITECTURE.md §4). The state is the fold of them.
///
/// In the store an event is `type` plus `payloadData()`; as a whole value (`GET /sagas/{id}/events`)
/// it encodes as the payload's fields with `"type"` added.
public enum SagaEvent: Sendable, Equatable {
    case sagaStarted(SagaStarted)
    case stepDispatched(StepDispatched)
    case stepSucceeded(StepSucceeded)
    case stepFailed(StepFailed)
    case retryScheduled(RetryScheduled)
    case compensationStarted(CompensationStarted)
    case sagaCompleted
    case sagaCompensated
    case sagaFailed(SagaFailed)
    /// An operator asked a `failed` saga to resume its compensation.
    case sagaRetryRequested

    /// The store's event type: `SagaStarted`, `StepDispatched`, …
    public var type: String {
        switch self {
        case .sagaStarted: "SagaStarted"
        case .stepDispatched: "StepDispatched"
        case .stepSucceeded: "StepSucceeded"
        case .stepFailed: "StepFailed"
        case .retryScheduled: "RetryScheduled"
        case .compensationStarted: "CompensationStarted"
        case .sagaCompleted: "SagaCompleted"
        case .sagaCompensated: "SagaCompensated"
        case .sagaFailed: "SagaFailed"
        case .sagaRetryRequested: "SagaRetryRequested"
        }
    }

    /// The payload as JSON (`{}` for events without one), what the store keeps next to `type`.
    public func payloadData() throws -> Data {
        try JSONCoding.encode(Payload(event: self))
    }

    /// The event stored as `type` with payload `data`; unknown types and bad payloads name the field.
    public init(type: String, data: some DataProtocol) throws(DecodingProblem) {
        self = try Self.decode(type: type, from: .data(Data(data)))
    }

    /// Where a payload is decoded from: stored bytes, or the decoder of a whole event (which ignores `type`).
    private enum PayloadSource {
        case data(Data)
        case decoder(any Decoder)
    }

    private static func decode(type: String, from source: PayloadSource) throws(DecodingProblem) -> SagaEvent {
        func field<T: Decodable>(_: T.Type) throws(DecodingProblem) -> T {
            do {
                switch source {
                case .data(let data): return try JSONCoding.decoder.decode(T.self, from: data)
                case .decoder(let decoder): return try T(from: decoder)
                }
            } catch let error as DecodingError {
                throw DecodingProblem(error)
            } catch {
                throw DecodingProblem(field: nil, message: "\(error)")
            }
        }
        switch type {
        case "SagaStarted": return .sagaStarted(try field(SagaStarted.self))
        case "StepDispatched": return .stepDispatched(try field(StepDispatched.self))
        case "StepSucceeded": return .stepSucceeded(try field(StepSucceeded.self))
        case "StepFailed": return .stepFailed(try field(StepFailed.self))
        case "RetryScheduled": return .retryScheduled(try field(RetryScheduled.self))
        case "CompensationStarted": return .compensationStarted(try field(CompensationStarted.self))
        case "SagaCompleted": return .sagaCompleted
        case "SagaCompensated": return .sagaCompensated
        case "SagaFailed": return .sagaFailed(try field(SagaFailed.self))
        case "SagaRetryRequested": return .sagaRetryRequested
        default: throw DecodingProblem(field: "type", message: "unknown saga event type '\(type)'")
        }
    }

    /// The payload of any event, encoded in place (no wrapper object).
    private struct Payload: Encodable {
        var event: SagaEvent

        func encode(to encoder: any Encoder) throws {
            switch event {
            case .sagaStarted(let value): try value.encode(to: encoder)
            case .stepDispatched(let value): try value.encode(to: encoder)
            case .stepSucceeded(let value): try value.encode(to: encoder)
            case .stepFailed(let value): try value.encode(to: encoder)
            case .retryScheduled(let value): try value.encode(to: encoder)
            case .compensationStarted(let value): try value.encode(to: encoder)
            case .sagaFailed(let value): try value.encode(to: encoder)
            case .sagaCompleted, .sagaCompensated, .sagaRetryRequested:
                _ = encoder.container(keyedBy: TypeKey.self)
            }
        }
    }

    private enum TypeKey: String, CodingKey { case type }
}

extension SagaEvent: Codable {
    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decode(String.self, forKey: .type)
        self = try Self.decode(type: type, from: .decoder(decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try Payload(event: self).encode(to: encoder)
        var container = encoder.container(keyedBy: TypeKey.self)
        try container.encode(type, forKey: .type)
    }
}
