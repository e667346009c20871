import Foundation
import HTTPTypes
import Hummingbird

/// The web pages, built into the binary (`WebAssets`, generated from `web/` by
/// `scripts/embed-web`): the trader's app on the gateway, the staff's app on the admin
/// service. Plain JavaScript, no build step, no third-party code; each page talks only to the
/// API of the role serving it (and the market streams the gateway serves on the same origin).
public enum WebPages {
    /// `/`, `/app.js`, `/style.css`… of the trader pages.
    public static func addTraderPages<Context: RequestContext>(to router: Router<Context>) {
        add(directory: "trader", to: router)
    }

    /// The staff pages.
    public static func addAdminPages<Context: RequestContext>(to router: Router<Context>) {
        add(directory: "admin", to: router)
    }

    static func add<Context: RequestContext>(directory: String, to router: Router<Context>) {
        let files = WebAssets.files.filter { $0.key.hasPrefix(directory + "/") || $0.key.hasPrefix("common/") }
        for (path, asset) in files {
            let name = path.hasPrefix("common/") ? String(path.dropFirst("common/".count)) : String(path.dropFirst(directory.count + 1))
            let response = Response(
                status: .ok,
                headers: [
                    .contentType: asset.contentType, .cacheControl: "no-cache",
                    // The pages load nothing from elsewhere and are never framed.
                    .contentSecurityPolicy: "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'",
                    .xContentTypeOptions: "nosniff",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
            router.get(RouterPath(name)) { _, _ in response }
            if name == "index.html" { router.get("/") { _, _ in response } }
        }
    }
}

extension HTTPField.Name {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
}
