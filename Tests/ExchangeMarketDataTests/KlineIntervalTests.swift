import ExchangeCore
import Testing

@testable import ExchangeMarketData

@Suite struct KlineIntervalTests {
    /// 2026-12-05 (a Saturday) 17:13:57.123 UTC.
    let saturday: Int64 = 1_796_490_837_123

    @Test func fixedIntervalsAlignOnMultiplesOfTheirLength() {
        #expect(KlineInterval.oneMinute.openTime(containing: saturday) == 1_796_490_780_000)
        #expect(KlineInterval.oneHour.openTime(containing: saturday) == 1_796_490_000_000)
        #expect(KlineInterval.oneDay.openTime(containing: saturday) == 1_796_428_800_000)
        #expect(KlineInterval.fifteenMinutes.nextOpenTime(after: 0) == 900_000)
        #expect(KlineInterval.oneMinute.openTime(containing: -1) == -60_000)
    }

    @Test func weeksStartOnMonday() {
        // Monday 2026-11-30 00:00 UTC.
        #expect(KlineInterval.oneWeek.openTime(containing: saturday) == 1_795_996_800_000)
        #expect(KlineInterval.oneWeek.openTime(containing: 1_795_996_800_000) == 1_795_996_800_000)
        #expect(KlineInterval.oneWeek.openTime(containing: 1_795_996_799_999) == 1_795_996_800_000 - 7 * 86_400_000)
    }

    @Test func monthsAreCalendarMonths() {
        // 2026-12-01 00:00 UTC, then 2027-01-01.
        #expect(KlineInterval.oneMonth.openTime(containing: saturday) == 1_796_083_200_000)
        #expect(KlineInterval.oneMonth.nextOpenTime(after: 1_796_083_200_000) == 1_798_761_600_000)
        // February of a leap year has 29 days: 2024-02-01 → 2024-03-01.
        #expect(KlineInterval.oneMonth.nextOpenTime(after: 1_706_745_600_000) == 1_709_251_200_000)
        #expect(CivilDate.civil(days: 0) == (1970, 1, 1))
        for day in stride(from: Int64(-800_000), to: 800_000, by: 997) {
            let (year, month, dayOfMonth) = CivilDate.civil(days: day)
            #expect(CivilDate.days(year: year, month: month, day: dayOfMonth) == day)
        }
    }
}
