@testable import ExchangeReplicaRuntime
import Testing

@Suite struct DurationHistogramTests {
    @Test("a duration lands in the first bucket whose bound it does not exceed; the export is cumulative, in exact seconds")
    func bucketsAndExport() {
        var histogram = DurationHistogram()
        for duration: Duration in [.microseconds(30), .microseconds(50), .microseconds(51), .milliseconds(3), .seconds(1), .microseconds(-5)] {
            histogram.record(duration)
        }
        #expect(histogram.count == 6)
        #expect(histogram.sumMicroseconds == 30 + 50 + 51 + 3_000 + 1_000_000)
        #expect(histogram.counts == [3, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1])
        #expect(histogram.prometheusLines(name: "step_seconds", labels: "shard=\"0\"") == [
            "# TYPE step_seconds histogram",
            "step_seconds_bucket{shard=\"0\",le=\"0.00005\"} 3",
            "step_seconds_bucket{shard=\"0\",le=\"0.0001\"} 4",
            "step_seconds_bucket{shard=\"0\",le=\"0.00025\"} 4",
            "step_seconds_bucket{shard=\"0\",le=\"0.0005\"} 4",
            "step_seconds_bucket{shard=\"0\",le=\"0.001\"} 4",
            "step_seconds_bucket{shard=\"0\",le=\"0.0025\"} 4",
            "step_seconds_bucket{shard=\"0\",le=\"0.005\"} 5",
            "step_seconds_bucket{shard=\"0\",le=\"0.01\"} 5",
            "step_seconds_bucket{shard=\"0\",le=\"0.025\"} 5",
            "step_seconds_bucket{shard=\"0\",le=\"0.1\"} 5",
            "step_seconds_bucket{shard=\"0\",le=\"+Inf\"} 6",
            "step_seconds_sum{shard=\"0\"} 1.003131",
            "step_seconds_count{shard=\"0\"} 6",
        ])
    }

    @Test("seconds are written exactly, without trailing zeros")
    func seconds() {
        #expect(DurationHistogram.seconds(0) == "0")
        #expect(DurationHistogram.seconds(2_500) == "0.0025")
        #expect(DurationHistogram.seconds(1_000_000) == "1")
        #expect(DurationHistogram.seconds(12_345_678) == "12.345678")
    }
}
