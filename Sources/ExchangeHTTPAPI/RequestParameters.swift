import ExchangeAccess
import ExchangeCore
import Hummingbird

/// A Binance request's parameters: the query string and an `application/x-www-form-urlencoded`
/// body merged (the body wins on a repeated name, as ccxt signs the body last), percent-decoded,
/// with the raw bytes kept for the signature check.
///
/// Bounded: at most `maximumParameters` pairs, each value at most `maximumValueLength` bytes.
public struct RequestParameters: Sendable {
    public static let maximumParameters = 64
    public static let maximumValueLength = 1_024
    /// Whether `text` has the plain decimal form Binance accepts, `^([0-9]{1,20})(\.[0-9]{1,20})?$`.
    public static func isPlainDecimal(_ text: String) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        return parts.allSatisfy { (1...20).contains($0.count) && $0.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }
    }

    public let rawQuery: [UInt8]
    public let rawBody: [UInt8]
    private(set) var values: [String: String] = [:]

    public init(rawQuery: [UInt8], rawBody: [UInt8]) throws(BinanceError) {
        self.rawQuery = rawQuery
        self.rawBody = rawBody
        var count = 0
        for part in [rawQuery, rawBody] where !part.isEmpty {
            for pair in part.split(separator: UInt8(ascii: "&")) {
                count += 1
                guard count <= Self.maximumParameters else { throw .tooManyParameters() }
                let pieces = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = Self.decode(pieces[0]), !name.isEmpty else { throw .invalidJSON }
                let value = pieces.count > 1 ? Self.decode(pieces[1]) : ""
                guard let value, value.utf8.count <= Self.maximumValueLength else { throw .invalidParameter(name, "value too long or not UTF-8.") }
                values[name] = value
            }
        }
    }

    /// Reads the request's query and, for a form body, the body (at most `maximumBodyBytes`).
    public static func read(_ request: inout Request, maximumBodyBytes: Int) async throws(BinanceError) -> RequestParameters {
        let query = Array(request.uri.query?.utf8 ?? "".utf8)
        var body: [UInt8] = []
        if request.method == .post || request.method == .put || request.method == .delete {
            do {
                let buffer = try await request.collectBody(upTo: maximumBodyBytes)
                body = Array(buffer.readableBytesView)
            } catch {
                throw .payloadTooLarge
            }
            let contentType = request.headers[.contentType] ?? ""
            if !body.isEmpty, !contentType.hasPrefix("application/x-www-form-urlencoded") {
                // JSON or anything else: Binance takes forms only.
                throw .invalidJSON
            }
        }
        return try RequestParameters(rawQuery: query, rawBody: body)
    }

    public subscript(name: String) -> String? { values[name].flatMap { $0.isEmpty ? nil : $0 } }

    public func required(_ name: String) throws(BinanceError) -> String {
        guard let value = self[name] else { throw .mandatory(name) }
        return value
    }

    public func int64(_ name: String) throws(BinanceError) -> Int64? {
        guard let text = self[name] else { return nil }
        guard let value = Int64(text) else { throw .invalidParameter(name, "expected an integer.") }
        return value
    }

    public func uint64(_ name: String) throws(BinanceError) -> UInt64? {
        guard let text = self[name] else { return nil }
        guard let value = UInt64(text) else { throw .invalidParameter(name, "expected a non-negative integer.") }
        return value
    }

    /// A decimal in Binance's plain form, exactly.
    public func decimal(_ name: String) throws(BinanceError) -> DecimalNumber? {
        guard let text = self[name] else { return nil }
        guard Self.isPlainDecimal(text), let value = try? DecimalNumber(parsing: text) else {
            throw .illegalCharacters(name)
        }
        return value
    }

    /// `limit` within `1...maximum`, `defaultValue` when absent.
    public func limit(default defaultValue: Int, maximum: Int) throws(BinanceError) -> Int {
        guard let value = try int64("limit") else { return defaultValue }
        guard value >= 1, value <= Int64(maximum) else { throw .invalidParameter("limit", "must be within 1 and \(maximum).") }
        return Int(value)
    }

    /// Percent-decodes a form component (`+` is a space); nil for bad escapes or bytes that
    /// are not UTF-8.
    public static func decode(_ bytes: ArraySlice<UInt8>) -> String? {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex,
                      let high = RequestSignature.nibble(bytes[index + 1]), let low = RequestSignature.nibble(bytes[index + 2]) else { return nil }
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        return String(validating: output, as: UTF8.self)
    }
}
