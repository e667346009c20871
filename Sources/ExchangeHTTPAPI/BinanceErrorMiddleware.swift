import Hummingbird
import Logging

/// Turns every failure into Binance's error JSON: contract errors as they are, an unknown
/// route as 404, anything else (Redis or PostgreSQL away) as 503 -1000, logged. Never a 500
/// with an HTML or empty body.
public struct BinanceErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as BinanceError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPError where error.status == .notFound {
            return try BinanceError.notFound.response(from: request, context: context)
        } catch let error as HTTPError where error.status == .methodNotAllowed {
            return try BinanceError(status: .methodNotAllowed, code: -1000, message: "Method not allowed.").response(from: request, context: context)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return try BinanceError.payloadTooLarge.response(from: request, context: context)
        } catch {
            logger.error("request failed", metadata: ["request.path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            var unavailable = BinanceError.unknown
            unavailable.status = .serviceUnavailable
            return try unavailable.response(from: request, context: context)
        }
    }
}
