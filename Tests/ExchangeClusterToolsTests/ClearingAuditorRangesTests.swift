import Testing

@testable import ExchangeClusterTools

/// How the clearing audit names missing or extra ledger transactions: without I/O.
struct ClearingAuditorRangesTests {
    @Test("ids become ascending ranges, single ids alone, at most five shown")
    func ranges() {
        #expect(ClearingAuditor.ranges([9, 3, 4, 5, 7]) == "3-5, 7, 9")
        #expect(ClearingAuditor.ranges([1]) == "1")
        #expect(ClearingAuditor.ranges([1, 3, 5, 7, 9, 11, 12, 20]) == "1, 3, 5, 7, 9 and 2 more ranges")
    }
}
