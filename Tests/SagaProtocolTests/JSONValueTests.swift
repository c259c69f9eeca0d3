import Foundation
import SagaProtocol
import Testing

@Suite struct JSONValueTests {
    @Test func roundTripsEnvelopeWithStableKeys() throws {
        let envelope = CommandEnvelope(
            id: "c-1", sagaId: "s-1", sagaType: "place-order", step: "authorize-payment", type: "AuthorizePayment",
            kind: .action, payload: .object(["amount": .number(1500), "customerId": .string("alice")]),
            replyTo: "http://127.0.0.1:8080/replies")
        let data = try JSONCoding.encode(envelope)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""amount":1500"#))
        #expect(text.contains(#""kind":"action""#))
        #expect(try JSONCoding.decode(CommandEnvelope.self, from: data) == envelope)
    }

    @Test func decodingProblemNamesTheMissingField() {
        let body = Data(#"{"id":"c","sagaId":"s","sagaType":"t","type":"X","kind":"action","attempt":1,"payload":{}}"#.utf8)
        #expect(throws: DecodingProblem(field: "step", message: "missing field 'step'")) {
            try JSONCoding.decode(CommandEnvelope.self, from: body)
        }
        #expect {
            try JSONCoding.decode(CommandEnvelope.self, from: Data("{not json".utf8))
        } throws: { ($0 as? DecodingProblem)?.field == nil }
    }

    @Test func mergeLetsLaterOutputsWin() {
        let merged = JSONValue.object(["a": .number(1), "b": .number(2)]).merging(.object(["b": .number(3)]))
        #expect(merged == .object(["a": .number(1), "b": .number(3)]))
    }
}
