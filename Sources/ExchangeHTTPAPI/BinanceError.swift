import Foundation
import HTTPTypes
import Hummingbird

/// An error answered the Binance way: an HTTP status and `{"code": C, "msg": "..."}`.
/// The messages are Binance's own wording where clients match on it (ccxt matches the exact
/// `msg` first; see `shared/formats/binance-api.md` §4).
public struct BinanceError: Error, Equatable, Sendable, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var code: Int
    public var message: String
    /// Extra headers (`Retry-After` on 429/418).
    public var headers: HTTPFields = [:]

    public init(status: HTTPResponse.Status = .badRequest, code: Int, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONSerialization.data(withJSONObject: ["code": code, "msg": message], options: [.sortedKeys])
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    // MARK: The contract's errors

    public static let unknown = BinanceError(status: .internalServerError, code: -1000, message: "An unknown error occurred while processing the request.")
    /// The order is known not to be placed (the instance is stopping, or lost its worker id):
    /// retrying it, with the same client order id, is safe.
    public static let notPlaced = BinanceError(
        status: .serviceUnavailable, code: -1001, message: "Internal error; unable to process your request. Please try again.",
        headers: [.retryAfter: "1"])
    public static let timeout = BinanceError(
        status: .serviceUnavailable, code: -1007,
        message: "Timeout waiting for response from backend server. Send status unknown; execution status unknown.")
    public static func tooManyRequests(retryAfterSeconds: Int64) -> BinanceError {
        BinanceError(
            status: .tooManyRequests, code: -1003, message: "Too much request weight used; current limit is exceeded. Please use WebSocket Streams for live updates to avoid polling the API.",
            headers: [.retryAfter: String(retryAfterSeconds)])
    }
    public static func tooManyOrders(retryAfterSeconds: Int64) -> BinanceError {
        BinanceError(status: .tooManyRequests, code: -1015, message: "Too many new orders.", headers: [.retryAfter: String(retryAfterSeconds)])
    }
    public static func banned(retryAfterSeconds: Int64) -> BinanceError {
        BinanceError(
            status: HTTPResponse.Status(code: 418, reasonPhrase: "I'm a teapot"), code: -1003,
            message: "Way too much request weight used; IP banned until further notice.", headers: [.retryAfter: String(retryAfterSeconds)])
    }
    public static let unauthorized = BinanceError(status: .unauthorized, code: -1002, message: "You are not authorized to execute this request.")
    public static let outsideWindow = BinanceError(code: -1021, message: "Timestamp for this request is outside of the recvWindow.")
    public static let badSignature = BinanceError(code: -1022, message: "Signature for this request is not valid.")
    public static let replayedSignature = BinanceError(code: -1022, message: "Signature for this request was already used.")
    public static func illegalCharacters(_ name: String) -> BinanceError {
        BinanceError(code: -1100, message: "Illegal characters found in parameter '\(name)'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
    }
    public static func tooManyParameters() -> BinanceError { BinanceError(code: -1101, message: "Too many parameters sent for this endpoint.") }
    public static func mandatory(_ name: String) -> BinanceError {
        BinanceError(code: -1102, message: "Mandatory parameter '\(name)' was not sent, was empty/null, or malformed.")
    }
    public static func notRequired(_ name: String) -> BinanceError { BinanceError(code: -1106, message: "Parameter '\(name)' sent when not required.") }
    public static func invalidParameter(_ name: String, _ detail: String) -> BinanceError {
        BinanceError(code: -1100, message: "Illegal characters found in parameter '\(name)'; \(detail)")
    }
    public static let invalidTimeInForce = BinanceError(code: -1115, message: "Invalid timeInForce.")
    public static let invalidOrderType = BinanceError(code: -1116, message: "Invalid orderType.")
    public static let invalidSide = BinanceError(code: -1117, message: "Invalid side.")
    public static let invalidSymbol = BinanceError(code: -1121, message: "Invalid symbol.")
    public static let invalidWindow = BinanceError(code: -1131, message: "recvWindow must be less than 60000")
    public static let invalidJSON = BinanceError(code: -1130, message: "Invalid data sent for a parameter.")
    public static func filterFailure(_ filter: String) -> BinanceError { BinanceError(code: -1013, message: "Filter failure: \(filter)") }
    public static let insufficientBalance = BinanceError(code: -2010, message: "Account has insufficient balance for requested action.")
    public static let wouldMatch = BinanceError(code: -2010, message: "Order would immediately match and take.")
    public static let duplicateOrder = BinanceError(code: -2010, message: "Duplicate order sent.")
    public static let marketClosed = BinanceError(code: -2010, message: "Market is closed.")
    /// The symbol is moving between shards (`ctl move`), for milliseconds: nothing was done.
    public static let symbolMoving = BinanceError(
        status: .serviceUnavailable, code: -1001, message: "The symbol is moving between shards; nothing was done. Please try again.",
        headers: [.retryAfter: "1"])
    /// An operator's kill switch covers the order's market (`scope`: exchange, shard:N or
    /// symbol:S). Retry after the market resumes; cancels still work.
    public static func marketHalted(_ scope: String) -> BinanceError {
        BinanceError(code: -2010, message: "Market is closed: trading halted by the exchange (\(scope)). Cancels still work.")
    }
    public static func rejected(_ reason: String) -> BinanceError { BinanceError(code: -2010, message: reason) }
    public static let unknownOrderCancel = BinanceError(code: -2011, message: "Unknown order sent.")
    public static let noSuchOrder = BinanceError(code: -2013, message: "Order does not exist.")
    public static let badAPIKeyFormat = BinanceError(status: .unauthorized, code: -2014, message: "API-key format invalid.")
    public static let rejectedAPIKey = BinanceError(status: .unauthorized, code: -2015, message: "Invalid API-key, IP, or permissions for action.")
    public static let payloadTooLarge = BinanceError(status: .contentTooLarge, code: -1000, message: "Request body too large.")
    public static let notFound = BinanceError(status: .notFound, code: -1000, message: "Unknown endpoint.")
}

/// Errors of the native `/api/v1` (users, keys): the same JSON shape, the codes in the
/// -3xxx range Binance leaves unused for spot, with HTTP statuses that say what happened.
extension BinanceError {
    public static func invalidRequest(_ message: String) -> BinanceError { BinanceError(code: -3001, message: message) }
    public static let emailTaken = BinanceError(status: .conflict, code: -3002, message: "An account with this email exists.")
    public static let badCredentials = BinanceError(status: .unauthorized, code: -3003, message: "Email or password is wrong.")
    public static let accountLocked = BinanceError(
        status: .forbidden, code: -3004, message: "The account is locked (too many failed logins, or by support); try again later or contact support.")
    public static let invalidToken = BinanceError(status: .unauthorized, code: -3005, message: "Missing, invalid or expired access token.")
    public static let invalidRefreshToken = BinanceError(status: .unauthorized, code: -3006, message: "Invalid, expired or revoked refresh token.")
    public static let unknownAPIKey = BinanceError(status: .notFound, code: -3007, message: "No such API key.")
    public static let secondFactorRequired = BinanceError(
        status: .unauthorized, code: -3008, message: "This account has a second factor: send 'totp', the 6-digit code of your authenticator app.")
    public static let badSecondFactor = BinanceError(status: .unauthorized, code: -3009, message: "Wrong or already used second-factor code.")
    public static let secondFactorNeededToWithdraw = BinanceError(
        status: .forbidden, code: -3010, message: "Withdrawing from a session needs a second factor: enable one first (POST /api/v1/me/totp).")
}

/// Errors of the admin API (`exchange admin`): the same JSON shape, codes in the -4xxx range.
extension BinanceError {
    /// The staff member's role does not allow the action (RBAC).
    public static let forbiddenAction = BinanceError(status: .forbidden, code: -4001, message: "Your role does not allow this action.")
    public static let notFoundEntity = BinanceError(status: .notFound, code: -4002, message: "No such record.")
    public static func conflict(_ message: String) -> BinanceError { BinanceError(status: .conflict, code: -4003, message: message) }
}
