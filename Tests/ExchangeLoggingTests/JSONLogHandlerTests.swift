import ExchangeCore
import ExchangeLogging
import Foundation
import Logging
import Synchronization
import Testing

/// Collects the lines a handler writes.
private final class Lines: Sendable {
    let lines = Mutex<[String]>([])
    var sink: LogSink { LogSink { line in self.lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }

    func objects() throws -> [[String: Any]] {
        try all.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }
}

@Suite("JSON logs")
struct JSONLogHandlerTests {
    private func logger(_ lines: Lines, provider: Logger.MetadataProvider? = nil) -> Logger {
        let fields = ProcessLogFields(role: "matcher", location: [("shard", "3"), ("replica", "b")])
        var logger = Logger(label: "exchange.test") { label in JSONLogHandler(label: label, fields: fields, sink: lines.sink) }
        if let provider { logger = Logger(label: "exchange.test", factory: { JSONLogHandler(label: $0, fields: fields, sink: lines.sink, metadataProvider: provider) }) }
        return logger
    }

    @Test("A line is one JSON object: time, level, service, role, location, message, logger, metadata")
    func shape() throws {
        let lines = Lines()
        var log = logger(lines)
        log[metadataKey: "epoch"] = "7"
        log.info("became primary", metadata: ["applied": "42", "nested": ["a": "1"]])
        log.debug("below the level: dropped")
        let line = try #require(lines.all.first)
        #expect(lines.all.count == 1)
        #expect(line.hasPrefix(#"{"time":""#))
        let keys = line.split(separator: ",").compactMap { $0.split(separator: ":").first }.prefix(6).map(String.init)
        #expect(keys == [#"{"time""#, #""level""#, #""service""#, #""role""#, #""shard""#, #""replica""#])
        let object = try #require(try lines.objects().first)
        #expect(object["level"] as? String == "info")
        #expect(object["service"] as? String == "openexchange" && object["role"] as? String == "matcher")
        #expect(object["shard"] as? String == "3" && object["replica"] as? String == "b")
        #expect(object["message"] as? String == "became primary")
        #expect(object["logger"] as? String == "exchange.test")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["epoch"] as? String == "7" && metadata["applied"] as? String == "42")
        #expect((metadata["nested"] as? [String: Any])?["a"] as? String == "1")
        let time = try #require(object["time"] as? String)
        #expect(time.count == 24 && time.hasSuffix("Z"))
    }

    @Test("trace_id and span_id from the metadata provider are top-level fields")
    func traceFields() throws {
        let lines = Lines()
        let provider = Logger.MetadataProvider { ["trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"] }
        logger(lines, provider: provider).warning("slow apply")
        let object = try #require(try lines.objects().first)
        #expect(object["trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(object["span_id"] as? String == "00f067aa0ba902b7")
        #expect(object["metadata"] == nil)
    }

    @Test("Secrets never reach the output, in metadata or in the message")
    func masking() throws {
        let lines = Lines()
        let log = logger(lines)
        let masterKey = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        let signature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOjEwMDAwMDB9.c2lnbmF0dXJlLWJ5dGVz"
        let apiSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
        let secrets = [masterKey, signature, jwt, apiSecret, "hunter2-correct-horse", "opaque-session-token-123"]
        log.info("request GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=\(signature)")
        log.info("login password=hunter2-correct-horse for demo@x")
        log.info(#"body {"email":"a@b","password":"hunter2-correct-horse"}"#)
        log.info("Authorization: Bearer \(jwt)")
        log.info("retried with Bearer opaque-session-token-123")
        log.info("a token in passing: \(jwt) and a key \(masterKey)")
        log.error("key created", metadata: [
            "secretKey": "\(apiSecret)", "api_secret": "\(apiSecret)", "password": "hunter2-correct-horse", "EXCHANGE_MASTER_KEY": "\(masterKey)",
            "headers": ["authorization": "Bearer \(jwt)", "x-mbx-apikey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"],
            "note": "signature=\(signature)", "accessToken": "\(jwt)",
        ])
        let output = lines.all.joined(separator: "\n")
        for secret in secrets { #expect(!output.contains(secret), "leaked: \(secret)") }
        #expect(output.contains("signature=***") && output.contains("password=***") && output.contains(#""password":"***""#))
        #expect(output.contains("Authorization: ***") && output.contains("retried with Bearer ***"))
        // What is not secret stays: the API key (an identifier), the symbol, the email.
        #expect(output.contains("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"))
        #expect(output.contains("symbol=BTCUSDT") && output.contains("demo@x"))
        #expect(lines.all.count == 7)
        _ = try lines.objects()
    }

    @Test("Messages with quotes, newlines and control characters stay one valid JSON line")
    func escaping() throws {
        let lines = Lines()
        logger(lines).notice("line one\nline \"two\"\t\u{1}")
        #expect(lines.all.count == 1 && !lines.all[0].contains("\n"))
        #expect(try lines.objects().first?["message"] as? String == "line one\nline \"two\"\t\u{1}")
    }

    @Test("ISO 8601 UTC times with milliseconds")
    func times() {
        #expect(CivilDate.iso8601(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(CivilDate.iso8601(milliseconds: 1_796_413_832_123) == "2026-12-04T19:50:32.123Z")
        #expect(CivilDate.iso8601(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(CivilDate.iso8601(milliseconds: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
    }
}
