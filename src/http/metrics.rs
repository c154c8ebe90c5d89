//! Prometheus metrics, served as text at `/metrics`.
//!
//! Counters for every auth decision, derived from the decision's event kind
//! in one place ([`Metrics::count`]); a latency histogram per route and
//! method (routes from the route table, methods from a fixed list, so no
//! label takes its value from client input); and the number of live
//! sessions, read at scrape time; the snapshots written or failed, and when
//! the last one was written.
//!
//! Every request is timed, so its histogram is looked up once per route and
//! method ([`RouteLatency`]) rather than by its label values each time.

use std::sync::OnceLock;
use std::time::Duration;

use crate::auth::events::Kind;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// `outcome`: success, failure, mfa_required, locked.
    logins: IntCounterVec,
    /// `outcome`: success, failure.
    mfa: IntCounterVec,
    /// `scope`: ip, account.
    lockouts: IntCounterVec,
    /// `attempt`: what was rate-limited (login, login_totp, refresh, …).
    rate_limited: IntCounterVec,
    /// `outcome`: success, reuse, invalid.
    refreshes: IntCounterVec,
    /// `outcome`: allowed, denied, redirected.
    verify: IntCounterVec,
    /// `kind`: every audit event.
    events: IntCounterVec,
    /// `outcome`: sent, retried, dropped (sign-in alerts).
    pub notify: IntCounterVec,
    /// `outcome`: written, failed (snapshots of the data directory).
    pub snapshots: IntCounterVec,
    /// When the last snapshot was written (Unix seconds; 0: none yet).
    pub snapshot_written_at: IntGauge,
    /// `route`, `method`.
    latency: HistogramVec,
    sessions: IntGauge,
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

/// The standard methods, by name: anything else is labelled `other` (a label
/// per invented method would let anyone grow memory and `/metrics` without
/// bound).
const METHODS: [(poem::http::Method, &str); 9] = [
    (poem::http::Method::GET, "GET"),
    (poem::http::Method::HEAD, "HEAD"),
    (poem::http::Method::POST, "POST"),
    (poem::http::Method::PUT, "PUT"),
    (poem::http::Method::PATCH, "PATCH"),
    (poem::http::Method::DELETE, "DELETE"),
    (poem::http::Method::OPTIONS, "OPTIONS"),
    (poem::http::Method::CONNECT, "CONNECT"),
    (poem::http::Method::TRACE, "TRACE"),
];
/// How many method labels there are: the standard ones and `other`.
const METHOD_LABELS: usize = METHODS.len() + 1;

/// The index of a method's label: its place in [`METHODS`], or the last
/// one (`other`).
fn method_index(method: &poem::http::Method) -> usize {
    METHODS
        .iter()
        .position(|(m, _)| m == method)
        .unwrap_or(METHODS.len())
}

/// The label for a request method: the standard ones by name, anything a
/// client invents as `other`.
pub fn method_label(method: &poem::http::Method) -> &'static str {
    METHODS
        .get(method_index(method))
        .map_or("other", |(_, l)| l)
}

/// The latency histograms of one route table, by route index and method:
/// each is made (with the same labels as [`Metrics::observe`]) the first time
/// it is needed, so `/metrics` lists exactly the pairs that were seen.
pub struct RouteLatency {
    vec: HistogramVec,
    /// Route templates, then `other` (for a path of no route).
    labels: Vec<String>,
    cells: Vec<[OnceLock<Histogram>; METHOD_LABELS]>,
}

impl RouteLatency {
    /// Records how long a request took: `route` is the index of its route
    /// template (from `Routes::index`), `None` for a path of no route.
    pub fn observe(&self, route: Option<usize>, method: &poem::http::Method, took: Duration) {
        let other = self.labels.len() - 1;
        let route = route.filter(|&r| r < other).unwrap_or(other);
        let method = method_index(method);
        let (Some(row), Some(label)) = (self.cells.get(route), self.labels.get(route)) else {
            return;
        };
        row[method]
            .get_or_init(|| {
                let method = METHODS.get(method).map_or("other", |(_, l)| l);
                self.vec.with_label_values(&[label.as_str(), method])
            })
            .observe(took.as_secs_f64());
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
        let snapshot_written_at = IntGauge::new(
            "soloauth_snapshot_last_written_timestamp_seconds",
            "When the last snapshot of the data directory was written",
        )
        .unwrap_or_else(|_| unreachable_metric("snapshot_written_at"));
        let _ = registry.register(Box::new(snapshot_written_at.clone()));
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
                "attempt",
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
            notify: counter(
                &registry,
                "soloauth_notify_total",
                "Sign-in alert deliveries by outcome",
                "outcome",
            ),
            snapshots: counter(
                &registry,
                "soloauth_snapshots_total",
                "Snapshots of the data directory by outcome",
                "outcome",
            ),
            snapshot_written_at,
            latency,
            sessions,
            registry,
        }
    }

    /// Counts one decision: its counter and label follow from its kind, and
    /// every audited kind is also counted by name.
    pub fn count(&self, kind: Kind) {
        let family = match kind {
            Kind::LoginSuccess => Some((&self.logins, "success")),
            Kind::LoginFailure => Some((&self.logins, "failure")),
            Kind::MfaRequired => Some((&self.logins, "mfa_required")),
            Kind::Locked => Some((&self.logins, "locked")),
            Kind::MfaSuccess => Some((&self.mfa, "success")),
            Kind::MfaFailure => Some((&self.mfa, "failure")),
            Kind::Lockout(scope) => Some((&self.lockouts, scope.as_str())),
            Kind::RateLimited { on } => Some((&self.rate_limited, on.as_str())),
            Kind::Refreshed => Some((&self.refreshes, "success")),
            Kind::RefreshReuse => Some((&self.refreshes, "reuse")),
            Kind::RefreshRefused => Some((&self.refreshes, "invalid")),
            Kind::VerifyAllowed => Some((&self.verify, "allowed")),
            Kind::VerifyDenied => Some((&self.verify, "denied")),
            Kind::VerifyBypassed => Some((&self.verify, "bypassed")),
            Kind::VerifyForbidden => Some((&self.verify, "forbidden")),
            Kind::VerifyRedirected => Some((&self.verify, "redirected")),
            _ => None,
        };
        if let Some((counter, label)) = family {
            counter.with_label_values(&[label]).inc();
        }
        if kind.is_audited() {
            self.events.with_label_values(&[kind.as_str()]).inc();
        }
    }

    /// Records how long a request took (`route` from the route table).
    pub fn observe(&self, route: &str, method: &poem::http::Method, took: Duration) {
        self.latency
            .with_label_values(&[route, method_label(method)])
            .observe(took.as_secs_f64());
    }

    /// Latency histograms for the routes `templates` (route indexes are
    /// positions in it), and `other`.
    pub fn route_latency<'a>(&self, templates: impl Iterator<Item = &'a str>) -> RouteLatency {
        let mut labels: Vec<String> = templates.map(str::to_string).collect();
        labels.push("other".to_string());
        RouteLatency {
            vec: self.latency.clone(),
            cells: labels.iter().map(|_| Default::default()).collect(),
            labels,
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
        m.count(Kind::LoginSuccess);
        m.snapshots.with_label_values(&["written"]).inc();
        m.snapshot_written_at.set(1_800_000_000);
        m.observe(
            "/health",
            &poem::http::Method::GET,
            Duration::from_millis(1),
        );
        let text = m.render(3);
        for name in [
            "soloauth_logins_total{outcome=\"success\"} 1",
            "soloauth_audit_events_total{kind=\"login_success\"} 1",
            "soloauth_http_request_duration_seconds",
            "soloauth_active_sessions 3",
            "soloauth_snapshots_total{outcome=\"written\"} 1",
            "soloauth_snapshot_last_written_timestamp_seconds 1800000000",
        ] {
            assert!(text.contains(name), "{name}");
        }
    }

    #[test]
    fn method_labels_are_bounded() {
        use poem::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let invented = Method::from_bytes(b"XQZ1234567AB").unwrap();
        assert_eq!(method_label(&invented), "other");
    }

    #[test]
    fn route_latency_labels_like_observe() {
        use poem::http::Method;
        let m = Metrics::new();
        let latency = m.route_latency(["/health", "/auth/sessions/{id}"].into_iter());
        let took = Duration::from_millis(1);
        latency.observe(Some(1), &Method::DELETE, took);
        latency.observe(Some(1), &Method::DELETE, took);
        latency.observe(None, &Method::from_bytes(b"XQZ").unwrap(), took);
        latency.observe(Some(7), &Method::GET, took); // no such route: other
        let text = m.render(0);
        let count = |labels: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!(
                        "soloauth_http_request_duration_seconds_count{{{labels}}}"
                    ))
                })
                .map(|l| l.rsplit(' ').next().unwrap().to_string())
        };
        assert_eq!(
            count(r#"method="DELETE",route="/auth/sessions/{id}""#).as_deref(),
            Some("2")
        );
        assert_eq!(
            count(r#"method="other",route="other""#).as_deref(),
            Some("1")
        );
        assert_eq!(count(r#"method="GET",route="other""#).as_deref(), Some("1"));
        // Only what was seen is listed.
        assert_eq!(count(r#"method="GET",route="/health""#), None);
    }
}
