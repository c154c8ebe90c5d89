//! What the OpenID Connect provider reads from the environment: the claims
//! that describe the owner (`AUTH_ADMIN_NAME`, `AUTH_ADMIN_EMAIL`,
//! `AUTH_ADMIN_GROUPS`), a signing key given by hand
//! (`AUTH_OIDC_PRIVATE_KEY`), and the apps configured in a compose file, one
//! set of `AUTH_OIDC_CLIENT_<NAME>_…` variables per app.

use crate::base::secret::SecretString;

/// Prefix of the per-app client variables.
pub const CLIENT_PREFIX: &str = "AUTH_OIDC_CLIENT_";
/// The suffixes of one app's variables.
pub const CLIENT_SUFFIXES: [&str; 5] = [
    "_ID",
    "_SECRET",
    "_REDIRECT_URIS",
    "_LOGOUT_URIS",
    "_POLICY",
];

/// The fewest characters an app's secret from the environment may have.
pub const MIN_CLIENT_SECRET_LEN: usize = 32;

/// An app configured in the environment.
#[derive(Debug, Clone)]
pub struct EnvClient {
    /// `<NAME>` of its variables, lower case (shown as the app's name).
    pub name: String,
    pub client_id: String,
    /// Absent for a public client (which must use PKCE).
    pub secret: Option<SecretString>,
    pub redirect_uris: Vec<String>,
    pub logout_uris: Vec<String>,
    /// `_POLICY`: how strong a sign-in the app requires.
    pub policy: crate::base::amr::Assurance,
}

/// The provider's settings.
#[derive(Debug, Clone, Default)]
pub struct OidcConfig {
    /// `name` claim (default: the username).
    pub admin_name: String,
    pub admin_email: Option<String>,
    pub admin_groups: Vec<String>,
    /// A PEM RSA key to sign with instead of the generated one.
    pub private_key: Option<SecretString>,
    pub clients: Vec<EnvClient>,
    /// `AUTH_OIDC_CORS_ORIGINS`: browser apps' origins (as
    /// `scheme://host[:port]`) allowed besides public clients' own.
    pub cors_origins: Vec<String>,
}

/// The `<NAME>`s that have client variables among `names`.
pub fn client_names(names: &[String]) -> Vec<String> {
    let mut found: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_prefix(CLIENT_PREFIX))
        .filter_map(|rest| {
            CLIENT_SUFFIXES
                .iter()
                .chain(["_SECRET_FILE"].iter())
                .find_map(|suffix| rest.strip_suffix(suffix))
        })
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Splits a comma-separated list, trimming and dropping empties.
pub fn list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits a list of URIs on commas and whitespace (a URI holds neither
/// unescaped), dropping empties: `a, b`, `a b` and one per line all work.
pub fn uri_list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks a redirect or logout URI: absolute, no fragment, and not a
/// scheme that runs or embeds content. Native apps' own schemes
/// (`app.immich:///oauth-callback`, RFC 8252) are allowed.
pub fn check_uri(var: &str, uri: &str) -> Result<(), String> {
    let parsed =
        url::Url::parse(uri).map_err(|e| format!("{var}: {uri:?} is not an absolute URL ({e})"))?;
    if parsed.fragment().is_some() {
        return Err(format!("{var}: {uri:?} must not have a #fragment"));
    }
    match parsed.scheme() {
        "javascript" | "data" | "vbscript" | "file" | "blob" => Err(format!(
            "{var}: {uri:?} has scheme {}: not a redirect target",
            parsed.scheme()
        )),
        _ => Ok(()),
    }
}

/// Reads an origin as `AUTH_OIDC_CORS_ORIGINS` lists it: `http` or
/// `https`, a host and maybe a port, nothing after (a trailing `/` is
/// allowed); answers it as browsers send it in `Origin`.
pub fn check_origin(var: &str, text: &str) -> Result<String, String> {
    let not = |why: &str| format!("{var}: {text:?} is not an origin ({why})");
    let url = url::Url::parse(text).map_err(|e| not(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(not("only http:// and https:// origins"));
    }
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !bare {
        return Err(not("scheme://host[:port] and nothing after"));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_bare_http_origins_as_browsers_send_them() {
        let v = "AUTH_OIDC_CORS_ORIGINS";
        for (given, origin) in [
            ("https://App.Example.com", "https://app.example.com"),
            ("https://app.example.com/", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ] {
            assert_eq!(check_origin(v, given).as_deref(), Ok(origin), "{given}");
        }
        for wrong in [
            "app.example.com",
            "https://app.example.com/spa",
            "https://app.example.com/?x",
            "https://u@app.example.com",
            "ftp://app.example.com",
            "null",
            "*",
        ] {
            let refused = check_origin(v, wrong).unwrap_err();
            assert!(
                refused.starts_with(v) && refused.contains(wrong),
                "{refused}"
            );
        }
    }

    #[test]
    fn client_names_come_from_any_of_their_variables() {
        let names: Vec<String> = [
            "AUTH_OIDC_CLIENT_IMMICH_ID",
            "AUTH_OIDC_CLIENT_IMMICH_SECRET",
            "AUTH_OIDC_CLIENT_GRAFANA_SECRET_FILE",
            "AUTH_OIDC_CLIENT_MY_APP_REDIRECT_URIS",
            "AUTH_OIDC_CLIENT__ID",
            "AUTH_OIDC_CLIENTS",
            "AUTH_PUBLIC_URL",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(client_names(&names), ["GRAFANA", "IMMICH", "MY_APP"]);
        let other = ["AUTH_OIDC_CLIENT_X_OTHER".to_string()];
        assert!(client_names(&other).is_empty());
    }

    #[test]
    fn uri_lists_split_on_commas_and_whitespace() {
        let value =
            " https://a.example/cb,https://b.example/cb  https://c.example/cb\n\tapp.x:/cb ,, ";
        assert_eq!(
            uri_list(Some(value.to_string())),
            [
                "https://a.example/cb",
                "https://b.example/cb",
                "https://c.example/cb",
                "app.x:/cb"
            ]
        );
        assert!(uri_list(None).is_empty());
        // Group names are another list: commas only, inner spaces kept.
        assert_eq!(
            list(Some("admin, home users".into())),
            ["admin", "home users"]
        );
    }

    #[test]
    fn uris_are_absolute_http_without_fragments() {
        assert!(check_uri("V", "https://photos.example.com/auth/callback").is_ok());
        assert!(check_uri("V", "http://127.0.0.1/cb").is_ok());
        assert!(check_uri("V", "app.immich:///oauth-callback").is_ok());
        for bad in [
            "/relative",
            "https://x.example/cb#frag",
            "javascript:alert(1)",
            "data:,x",
        ] {
            assert!(check_uri("V", bad).is_err(), "{bad}");
        }
    }
}
