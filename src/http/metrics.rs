//! Prometheus metrics, served as text at `/metrics`.
//!
//! Counters for every auth decision, a latency histogram per route (routes
//! are a fixed list, so a scanner cannot blow up the label set), and the
//! number of live sessions, read at scrape time.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// `outcome`: success, failure, mfa_required, locked.
    pub logins: IntCounterVec,
    /// `outcome`: success, failure.
    pub mfa: IntCounterVec,
    /// `scope`: ip, account.
    pub lockouts: IntCounterVec,
    /// `route`: the rate-limited route.
    pub rate_limited: IntCounterVec,
    /// `outcome`: success, reuse, invalid.
    pub refreshes: IntCounterVec,
    /// `outcome`: allowed, denied, redirected.
    pub verify: IntCounterVec,
    /// `kind`: every audit event.
    pub events: IntCounterVec,
    /// `route`, `method`.
    pub latency: HistogramVec,
    pub sessions: IntGauge,
}

fn counter(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), &[label])
        .unwrap_or_else(|_| unreachable_metric(name));
    let _ = registry.register(Box::new(c.clone()));
    c
}

/// Metric definitions are constants; a failure here is a programming error
/// caught by the unit test below, never by input.
#[allow(clippy::panic)]
fn unreachable_metric(name: &str) -> ! {
    panic!("invalid metric definition: {name}")
}

/// The routes latency is reported for; anything else is `other`.
const ROUTES: &[&str] = &[
    "/",
    "/health",
    "/metrics",
    "/openapi.json",
    "/auth/health",
    "/auth/login",
    "/auth/login/totp",
    "/auth/refresh",
    "/auth/logout",
    "/auth/me",
    "/auth/verify",
    "/auth/sessions",
    "/auth/events",
    "/auth/totp/setup",
    "/auth/totp/qr.png",
    "/auth/totp/confirm",
    "/auth/totp/disable",
    "/auth/recovery-codes",
];

/// The label for a request method: the standard ones by name, anything a
/// client invents as `other` (a label per invented method would let anyone
/// grow memory and `/metrics` without bound).
pub fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, label)| label)
}

/// The label for a request path.
pub fn route_label(path: &str) -> &'static str {
    if let Some(known) = ROUTES.iter().find(|r| **r == path) {
        return known;
    }
    if path.starts_with("/auth/sessions/") {
        "/auth/sessions/{id}"
    } else if path.starts_with("/static/") {
        "/static/*"
    } else if path.starts_with("/docs") {
        "/docs"
    } else {
        "other"
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "soloauth_http_request_duration_seconds",
                "Request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route", "method"],
        )
        .unwrap_or_else(|_| unreachable_metric("latency"));
        let _ = registry.register(Box::new(latency.clone()));
        let sessions = IntGauge::new("soloauth_active_sessions", "Live sessions")
            .unwrap_or_else(|_| unreachable_metric("sessions"));
        let _ = registry.register(Box::new(sessions.clone()));
        Metrics {
            logins: counter(
                &registry,
                "soloauth_logins_total",
                "Password logins by outcome",
                "outcome",
            ),
            mfa: counter(
                &registry,
                "soloauth_mfa_total",
                "Second-factor checks by outcome",
                "outcome",
            ),
            lockouts: counter(
                &registry,
                "soloauth_lockouts_total",
                "Lockouts started",
                "scope",
            ),
            rate_limited: counter(
                &registry,
                "soloauth_rate_limited_total",
                "Requests refused by the rate limit",
                "route",
            ),
            refreshes: counter(
                &registry,
                "soloauth_refreshes_total",
                "Token refreshes by outcome",
                "outcome",
            ),
            verify: counter(
                &registry,
                "soloauth_verify_total",
                "Forward-auth checks by outcome",
                "outcome",
            ),
            events: counter(
                &registry,
                "soloauth_audit_events_total",
                "Audit events by kind",
                "kind",
            ),
            latency,
            sessions,
            registry,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self, live_sessions: usize) -> String {
        self.sessions.set(live_sessions as i64);
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::new();
        m.logins.with_label_values(&["success"]).inc();
        m.latency
            .with_label_values(&["/health", "GET"])
            .observe(0.001);
        let text = m.render(3);
        for name in [
            "soloauth_logins_total",
            "soloauth_http_request_duration_seconds",
            "soloauth_active_sessions 3",
        ] {
            assert!(text.contains(name), "{name}");
        }
    }

    #[test]
    fn route_labels_are_bounded() {
        assert_eq!(route_label("/auth/login"), "/auth/login");
        assert_eq!(route_label("/auth/sessions/abc"), "/auth/sessions/{id}");
        assert_eq!(route_label("/wp-admin/x.php"), "other");
    }

    #[test]
    fn method_labels_are_bounded() {
        use poem::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let invented = Method::from_bytes(b"XQZ1234567AB").unwrap();
        assert_eq!(method_label(&invented), "other");
    }
}
