//! The route list, from one source: the OpenAPI document that poem-openapi
//! builds from the handlers' `#[oai(path, method)]` attributes, plus the few
//! routes served outside it (the page's assets, the spec, the docs).
//!
//! It answers two questions about a request path: which route it is (the
//! template, e.g. `/auth/sessions/{id}`, used as the metrics label, so a
//! scanner cannot grow the label set) and which methods that route allows
//! (the `Allow` header of a `405`).
//!
//! Every request asks, so the lookup is cheap: a hash lookup for the fixed
//! templates, a scan of the few with a `{param}` only when needed.

use std::collections::HashMap;

/// Routes that are not in the OpenAPI document, all `GET`.
const OUTSIDE_SPEC: &[&str] = &[
    "/",
    "/favicon.ico",
    "/openapi.json",
    "/docs",
    "/static/{file}",
    "/static/js/{file}",
];

/// One route: its template, split on `/`, and its `Allow` value.
struct Route {
    template: String,
    segments: Vec<String>,
    allow: String,
}

/// Every route the server answers.
pub struct Routes {
    all: Vec<Route>,
    /// Templates without a parameter, to their index in `all`.
    fixed: HashMap<String, usize>,
    /// Indexes of the templates with a parameter, in order.
    with_params: Vec<usize>,
}

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
        let all: Vec<Route> = routes
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
            .collect();
        let mut fixed = HashMap::new();
        let mut with_params = Vec::new();
        for (i, route) in all.iter().enumerate() {
            if route.template.contains('{') {
                with_params.push(i);
            } else {
                fixed.entry(route.template.clone()).or_insert(i);
            }
        }
        Routes {
            all,
            fixed,
            with_params,
        }
    }

    /// The index of the route a path belongs to: the first in order that
    /// matches it, as a scan of the whole list would find.
    pub fn index(&self, path: &str) -> Option<usize> {
        let fixed = self.fixed.get(path).copied();
        let with_param = self
            .with_params
            .iter()
            .copied()
            .take_while(|&i| fixed.is_none_or(|f| i < f))
            .find(|&i| self.all[i].matches(path));
        with_param.or(fixed)
    }

    /// How many routes there are (indexes are below this).
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// True when there is no route at all.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The template of the route at `index` (from [`Routes::index`]).
    pub fn template(&self, index: usize) -> &str {
        self.all.get(index).map_or("other", |r| r.template.as_str())
    }

    /// The route a path belongs to (its template), or `other`.
    pub fn label(&self, path: &str) -> &str {
        self.index(path).map_or("other", |i| self.template(i))
    }

    /// The `Allow` value for the route at `index`.
    pub fn allow_at(&self, index: usize) -> Option<&str> {
        self.all.get(index).map(|r| r.allow.as_str())
    }

    /// The `Allow` value for a path, if it names a route.
    pub fn allow(&self, path: &str) -> Option<&str> {
        self.index(path).and_then(|i| self.allow_at(i))
    }
}

impl Route {
    fn matches(&self, path: &str) -> bool {
        let mut given = path.split('/');
        self.segments.iter().all(|t| match given.next() {
            Some(s) => t == s || (t.starts_with('{') && !s.is_empty()),
            None => false,
        }) && given.next().is_none()
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
        assert_eq!(routes.label("/static/js/api.js"), "/static/js/{file}");
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
        assert_eq!(routes.allow("/static/js/ui.js"), Some("GET, HEAD"));
        assert_eq!(routes.allow("/nope"), None);
    }

    #[test]
    fn the_lookup_finds_what_a_scan_in_order_finds() {
        // Parameter routes that also match fixed ones, on both sides of them.
        let spec = r#"{"paths": {
            "/a/{id}": {"get": {}},
            "/a/b": {"post": {}},
            "/c/d": {"get": {}},
            "/c/{id}": {"delete": {}},
            "/{x}/d": {"get": {}}
        }}"#;
        let routes = Routes::from_spec(spec);
        let scan = |path: &str| routes.all.iter().position(|r| r.matches(path));
        for path in [
            "/a/b", "/a/z", "/c/d", "/c/e", "/x/d", "/", "/docs", "/a", "/q/r/s",
        ] {
            assert_eq!(routes.index(path), scan(path), "{path}");
        }
        assert_eq!(routes.template(routes.len()), "other");
    }
}
