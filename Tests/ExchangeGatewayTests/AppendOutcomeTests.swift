import ExchangeRedis
import Testing

@testable import ExchangeGateway

/// What an append attempt's per-entry replies mean (no I/O): an entry refused for want of the
/// worker lease was not appended by that attempt, so on the first it is superseded and on a
/// retry (an earlier attempt may have got in) unknown; a skipped one is superseded on the first
/// attempt and searched for on a retry; the others landed.
@Suite struct AppendOutcomeTests {
    static func kinds(_ results: [Result<Void, any Error>]) -> [String] {
        results.map { result in
            switch result {
            case .success: "landed"
            case .failure(let error): "\(error as? OrderSubmitterError ?? .noFreeWorker)"
            }
        }
    }

    @Test("first attempt: a refusal for the lease and a skip are both superseded, the rest landed")
    func firstAttempt() {
        let (results, toSearch) = OrderSubmitter.outcomes(of: [.success(5), .failure(.notHolder), .success(0)], attempt: 0)
        #expect(Self.kinds(results) == ["landed", "\(OrderSubmitterError.superseded)", "\(OrderSubmitterError.superseded)"])
        #expect(toSearch.isEmpty)
    }

    @Test("a retry: a refusal for the lease is unknown (the settler takes it), a skip is searched for, the rest landed")
    func retry() {
        let (results, toSearch) = OrderSubmitter.outcomes(of: [.failure(.notHolder), .success(0), .success(9)], attempt: 3)
        let kinds = Self.kinds(results)
        #expect([kinds[0], kinds[2]] == ["\(OrderSubmitterError.outcomeUnknown)", "landed"])
        #expect(toSearch == [1], "its result comes from the search")
    }
}
