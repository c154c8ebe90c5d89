//! The route list, from one source: the OpenAPI document that poem-openapi
//! builds from the handlers' `#[oai(path, method)]` attributes, plus the few
//! routes served outside it (the page's assets, the spec, the docs).
//!
//! It answers two questions about a request path: which route it is (the
//! template, e.g. `/auth/sessions/{id}`, used as the metrics label, so a
//! scanner cannot grow the label set) and which methods that route allows
//! (the `Allow` header of a `405`).

/// Routes that are not in the OpenAPI document, all `GET`.
const OUTSIDE_SPEC: &[&str] = &[
    "/",
    "/favicon.ico",
    "/openapi.json",
    "/docs",
    "/static/{file}",
];

/// One route: its template, split on `/`, and its `Allow` value.
struct Route {
    template: String,
    segments: Vec<String>,
    allow: String,
}

/// Every route the server answers.
pub struct Routes(Vec<Route>);

impl Routes {
    /// From the OpenAPI document (JSON), plus the routes it does not list.
    pub fn from_spec(spec: &str) -> Self {
        let mut routes: Vec<(String, Vec<String>)> = OUTSIDE_SPEC
            .iter()
            .map(|p| (p.to_string(), vec!["GET".to_string()]))
            .collect();
        let doc: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        if let Some(paths) = doc["paths"].as_object() {
            for (path, ops) in paths {
                let methods = ops
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                routes.push((path.clone(), methods));
            }
        }
        Routes(
            routes
                .into_iter()
                .map(|(template, mut methods)| {
                    if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
                        methods.push("HEAD".into()); // poem answers HEAD on GET routes
                    }
                    Route {
                        segments: template.split('/').map(str::to_string).collect(),
                        allow: methods.join(", "),
                        template,
                    }
                })
                .collect(),
        )
    }

    fn find(&self, path: &str) -> Option<&Route> {
        self.0.iter().find(|route| {
            let mut given = path.split('/');
            route.segments.iter().all(|t| match given.next() {
                Some(s) => t == s || (t.starts_with('{') && !s.is_empty()),
                None => false,
            }) && given.next().is_none()
        })
    }

    /// The route a path belongs to (its template), or `other`.
    pub fn label(&self, path: &str) -> &str {
        self.find(path).map_or("other", |r| r.template.as_str())
    }

    /// The `Allow` value for a path, if it names a route.
    pub fn allow(&self, path: &str) -> Option<&str> {
        self.find(path).map(|r| r.allow.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"paths": {
        "/auth/login": {"post": {}},
        "/auth/sessions/{id}": {"delete": {}},
        "/auth/verify": {"get": {}, "head": {}}
    }}"#;

    #[test]
    fn paths_map_to_their_route_or_other() {
        let routes = Routes::from_spec(SPEC);
        assert_eq!(routes.label("/auth/login"), "/auth/login");
        assert_eq!(routes.label("/auth/sessions/abc"), "/auth/sessions/{id}");
        assert_eq!(routes.label("/static/app.js"), "/static/{file}");
        for other in [
            "/wp-admin/x.php",
            "/auth/sessions/a/b",
            "/auth/sessions/",
            "/auth/login/x",
        ] {
            assert_eq!(routes.label(other), "other", "{other}");
        }
    }

    #[test]
    fn allow_lists_the_route_methods() {
        let routes = Routes::from_spec(SPEC);
        assert_eq!(routes.allow("/auth/login"), Some("POST"));
        assert_eq!(routes.allow("/auth/verify"), Some("GET, HEAD"));
        assert_eq!(routes.allow("/openapi.json"), Some("GET, HEAD"));
        assert_eq!(routes.allow("/nope"), None);
    }
}
