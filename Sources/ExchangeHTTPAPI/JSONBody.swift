import Foundation
import Hummingbird

/// A request's JSON object body with typed fields; each missing or mistyped field is a -3001
/// error naming it, so a bad form never reaches a store half-read.
public struct JSONBody: @unchecked Sendable {
    /// Parsed by `JSONSerialization`: only strings, numbers, booleans, arrays, objects, null.
    let object: [String: Any]

    /// Reads at most `maximumBytes` of `request`'s body as a JSON object (an empty body is `{}`).
    public static func read(_ request: inout Request, maximumBytes: Int) async throws -> JSONBody {
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: maximumBytes) } catch { throw BinanceError.payloadTooLarge }
        if buffer.readableBytes == 0 { return JSONBody(object: [:]) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            throw BinanceError.invalidRequest("The body must be a JSON object.")
        }
        return JSONBody(object: object)
    }

    public func has(_ name: String) -> Bool { object[name] != nil && !(object[name] is NSNull) }

    /// A non-empty string field.
    public func string(_ name: String) throws -> String {
        guard let value = object[name] as? String, !value.isEmpty else { throw BinanceError.invalidRequest("'\(name)' is required (a string).") }
        return value
    }

    public func optionalString(_ name: String) throws -> String? {
        guard has(name) else { return nil }
        return try string(name)
    }

    /// A whole-number field (JSON number without a fraction), within `range`.
    public func integer(_ name: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws -> Int64 {
        guard let number = object[name] as? NSNumber, !Self.isBoolean(number), let value = object[name] as? Int64, range.contains(value) else {
            throw BinanceError.invalidRequest("'\(name)' is required (a whole number within \(range.lowerBound)...\(range.upperBound)).")
        }
        return value
    }

    public func optionalInteger(_ name: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws -> Int64? {
        guard has(name) else { return nil }
        return try integer(name, in: range)
    }

    public func bool(_ name: String, default defaultValue: Bool? = nil) throws -> Bool {
        if !has(name), let defaultValue { return defaultValue }
        guard let number = object[name] as? NSNumber, Self.isBoolean(number) else { throw BinanceError.invalidRequest("'\(name)' is required (true or false).") }
        return number.boolValue
    }

    /// Foundation parses JSON `true` and `1` alike into `NSNumber`; only the class tells them apart.
    static func isBoolean(_ number: NSNumber) -> Bool { type(of: number) == type(of: NSNumber(value: true)) }
}
