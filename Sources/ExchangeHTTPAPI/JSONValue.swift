import ExchangeCore
import HTTPTypes
import Hummingbird

extension JSONValue {
    /// A 200 (or `status`) `application/json` response with this document.
    public func response(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Binance's decimal text: plain, at least 8 fraction digits (`"0.10000000"`).
public enum BinanceDecimal {
    public static let minimumFractionDigits = 8

    /// `units × 10^-scale`.
    public static func text(units: Int64, scale: Int) -> String {
        pad(DecimalNumber(units: units, scale: scale).description, scale: scale)
    }

    /// Pads plain decimal text to at least `max(8, scale)` fraction digits.
    public static func pad(_ plain: String, scale: Int = 0) -> String {
        let digits = max(minimumFractionDigits, scale)
        guard let dot = plain.firstIndex(of: ".") else { return plain + "." + String(repeating: "0", count: digits) }
        let fraction = plain.distance(from: plain.index(after: dot), to: plain.endIndex)
        return fraction >= digits ? plain : plain + String(repeating: "0", count: digits - fraction)
    }
}
