//! Reads the OpenID Connect provider's variables into an [`OidcConfig`]:
//! the owner's claims (`AUTH_ADMIN_NAME`, `AUTH_ADMIN_EMAIL`,
//! `AUTH_ADMIN_GROUPS`), a signing key given by hand
//! (`AUTH_OIDC_PRIVATE_KEY`), and each app's `AUTH_OIDC_CLIENT_<NAME>_…`
//! variables, checked: a client id and redirect URIs for every app, a long
//! enough secret for a confidential one, no client id shared. The types and
//! list parsers are [`crate::base::oidc_config`]'s.

use crate::base::amr::Assurance;
use crate::base::config::reader::Reader;
use crate::base::oidc_config::{self, EnvClient, OidcConfig};
use crate::base::secret::{ExposeSecret, SecretString};

/// Reads the provider's settings; `names` lists the variables that are set
/// (the apps are found among them), `admin_username` is the default `name`.
pub(super) fn read(r: &mut Reader, names: &[String], admin_username: &str) -> OidcConfig {
    let admin_email = r.var("AUTH_ADMIN_EMAIL").map(|e| e.trim().to_string());
    if let Some(email) = &admin_email {
        let (local, domain) = email.split_once('@').unwrap_or(("", ""));
        if local.is_empty() || domain.is_empty() || email.chars().any(char::is_whitespace) {
            r.problem(format!(
                "AUTH_ADMIN_EMAIL={email:?} is not an email address"
            ));
        }
    }
    let groups = match r.var("AUTH_ADMIN_GROUPS") {
        Some(value) => oidc_config::list(Some(value)),
        None => vec!["admin".to_string()],
    };
    let private_key = r.secret("AUTH_OIDC_PRIVATE_KEY");
    let apps: Vec<(String, EnvClient)> = oidc_config::client_names(names)
        .into_iter()
        .filter_map(|name| read_client(r, &name).map(|client| (name, client)))
        .collect();
    r.problems(shared_client_ids(&apps));
    let clients = apps.into_iter().map(|(_, client)| client).collect();
    let cors_origins = oidc_config::uri_list(r.var(CORS_ORIGINS))
        .iter()
        .filter_map(|o| {
            let origin = oidc_config::check_origin(CORS_ORIGINS, o);
            origin.map_err(|why| r.problem(why)).ok()
        })
        .collect();
    OidcConfig {
        admin_name: r.text("AUTH_ADMIN_NAME", admin_username),
        admin_email,
        admin_groups: groups,
        private_key,
        clients,
        cors_origins,
    }
}

const CORS_ORIGINS: &str = "AUTH_OIDC_CORS_ORIGINS";

/// The variable `AUTH_OIDC_CLIENT_<name><suffix>`.
fn client_var(name: &str, suffix: &str) -> String {
    format!("{}{name}{suffix}", oidc_config::CLIENT_PREFIX)
}

/// One app's `AUTH_OIDC_CLIENT_<NAME>_…` variables; `None` without a client id.
fn read_client(r: &mut Reader, name: &str) -> Option<EnvClient> {
    let var = |suffix: &str| client_var(name, suffix);
    let Some(client_id) = r.var(&var("_ID")).map(|v| v.trim().to_string()) else {
        r.problem(format!(
            "{} is missing: every app needs a client id",
            var("_ID")
        ));
        return None;
    };
    let redirect_uris = oidc_config::uri_list(r.var(&var("_REDIRECT_URIS")));
    if redirect_uris.is_empty() {
        r.problem(format!(
            "{} is missing: every app needs its redirect URIs",
            var("_REDIRECT_URIS")
        ));
    }
    let logout_uris = oidc_config::uri_list(r.var(&var("_LOGOUT_URIS")));
    for (suffix, uri) in redirect_uris
        .iter()
        .map(|u| ("_REDIRECT_URIS", u))
        .chain(logout_uris.iter().map(|u| ("_LOGOUT_URIS", u)))
    {
        if let Err(why) = oidc_config::check_uri(&var(suffix), uri) {
            r.problem(why);
        }
    }
    let policy = match r.var(&var("_POLICY")).as_deref().map(str::trim) {
        None => Assurance::OneFactor,
        Some(name) => Assurance::parse(name).unwrap_or_else(|| {
            r.problem(format!(
                "{}={name:?} must be one_factor, two_factor or passkey",
                var("_POLICY")
            ));
            Assurance::OneFactor
        }),
    };
    Some(EnvClient {
        name: name.to_ascii_lowercase(),
        client_id,
        secret: read_client_secret(r, &var("_SECRET")),
        redirect_uris,
        logout_uris,
        policy,
    })
}

/// An app's secret (`None`: a public client); set but empty, or shorter
/// than [`oidc_config::MIN_CLIENT_SECRET_LEN`], is a problem.
fn read_client_secret(r: &mut Reader, secret_var: &str) -> Option<SecretString> {
    // An unset `${SECRET}` in a compose file must not quietly make a
    // confidential app public.
    for name in [secret_var.to_string(), format!("{secret_var}_FILE")] {
        if r.is_set_but_empty(&name) {
            r.problem(format!(
                "{name} is set but empty (leave it out for a public client)"
            ));
        }
    }
    let secret = r.secret(secret_var)?;
    if secret.expose_secret().chars().count() < oidc_config::MIN_CLIENT_SECRET_LEN {
        let source = r.secret_source(secret_var);
        r.problem(format!(
            "{source} is shorter than {} characters: give the app a long random secret, \
             such as the client secret `soloauth gen-secrets` prints",
            oidc_config::MIN_CLIENT_SECRET_LEN
        ));
    }
    Some(secret)
}

/// One problem for each app whose client id an earlier app already has,
/// naming both apps' `_ID` variables (`apps`: `<NAME>` and app).
fn shared_client_ids(apps: &[(String, EnvClient)]) -> Vec<String> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    let mut problems = Vec::new();
    for (name, app) in apps {
        match seen.iter().find(|(_, id)| *id == app.client_id) {
            Some((first, _)) => problems.push(format!(
                "{} and {} share the client id {:?}: every app needs its own",
                client_var(first, "_ID"),
                client_var(name, "_ID"),
                app.client_id
            )),
            None => seen.push((name, &app.client_id)),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use crate::base::config::{grafana, load};

    #[test]
    fn client_secrets_need_32_characters_and_the_problem_names_the_variable() {
        let short = "a-31-character-client-secret-xy";
        assert_eq!(short.len(), 31);
        let problems = load(&grafana(&[("AUTH_OIDC_CLIENT_GRAFANA_SECRET", short)])).unwrap_err();
        assert_eq!(
            problems,
            [
                "AUTH_OIDC_CLIENT_GRAFANA_SECRET is shorter than 32 characters: give the app a \
              long random secret, such as the client secret `soloauth gen-secrets` prints"
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, format!("{short}\n")).unwrap();
        let file = path.to_str().unwrap();
        let problems =
            load(&grafana(&[("AUTH_OIDC_CLIENT_GRAFANA_SECRET_FILE", file)])).unwrap_err();
        assert!(
            problems[0].starts_with("AUTH_OIDC_CLIENT_GRAFANA_SECRET_FILE is shorter than 32"),
            "{problems:?}"
        );
        assert!(!problems.join(" ").contains(short));
        // Characters, not bytes: 32 of them will do, and 31 will not.
        let (long, short) = ("é".repeat(32), "é".repeat(31));
        let c = load(&grafana(&[("AUTH_OIDC_CLIENT_GRAFANA_SECRET", &long)]));
        assert!(c.unwrap().oidc.clients[0].secret.is_some());
        assert!(load(&grafana(&[("AUTH_OIDC_CLIENT_GRAFANA_SECRET", &short)])).is_err());
    }

    #[test]
    fn an_apps_policy_is_one_of_three_and_a_wrong_one_is_named() {
        use crate::base::amr::Assurance;
        let c = load(&grafana(&[(
            "AUTH_OIDC_CLIENT_GRAFANA_POLICY",
            " passkey ",
        )]));
        assert_eq!(c.unwrap().oidc.clients[0].policy, Assurance::Passkey);
        let c = load(&grafana(&[]));
        assert_eq!(c.unwrap().oidc.clients[0].policy, Assurance::OneFactor);
        let problems = load(&grafana(&[("AUTH_OIDC_CLIENT_GRAFANA_POLICY", "strong")]));
        assert_eq!(
            problems.unwrap_err(),
            ["AUTH_OIDC_CLIENT_GRAFANA_POLICY=\"strong\" must be one_factor, two_factor or passkey"]
        );
    }

    #[test]
    fn cors_origins_are_read_as_browsers_send_them_and_a_wrong_one_is_named() {
        let c = load(&[(
            "AUTH_OIDC_CORS_ORIGINS",
            "https://A.example.com/, http://b:8080",
        )]);
        let origins = c.unwrap().oidc.cors_origins;
        assert_eq!(origins, ["https://a.example.com", "http://b:8080"]);
        let problems = load(&[("AUTH_OIDC_CORS_ORIGINS", "https://a.example.com/app")]);
        let problems = problems.unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("AUTH_OIDC_CORS_ORIGINS: \"https://a.example.com/app\""),
            "{problems:?}"
        );
    }

    #[test]
    fn apps_sharing_a_client_id_are_named_both() {
        let problems = load(&[
            ("AUTH_OIDC_CLIENT_IMMICH_ID", "photos"),
            (
                "AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS",
                "https://a.example/cb",
            ),
            ("AUTH_OIDC_CLIENT_GRAFANA_ID", "photos"),
            (
                "AUTH_OIDC_CLIENT_GRAFANA_REDIRECT_URIS",
                "https://b.example/cb",
            ),
            ("AUTH_OIDC_CLIENT_PAPERLESS_ID", "paperless"),
            (
                "AUTH_OIDC_CLIENT_PAPERLESS_REDIRECT_URIS",
                "https://c.example/cb",
            ),
        ])
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "AUTH_OIDC_CLIENT_GRAFANA_ID and AUTH_OIDC_CLIENT_IMMICH_ID share the client id \
              \"photos\": every app needs its own"
            ]
        );
    }

    #[test]
    fn app_uri_lists_split_on_whitespace_and_each_uri_is_checked() {
        let c = load(&[
            ("AUTH_OIDC_CLIENT_IMMICH_ID", "immich"),
            (
                "AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS",
                "https://photos.example.com/auth/login https://photos.example.com/user-settings\n\
                 app.immich:///oauth-callback",
            ),
            (
                "AUTH_OIDC_CLIENT_IMMICH_LOGOUT_URIS",
                "https://photos.example.com/, https://photos.example.com/bye",
            ),
        ])
        .unwrap();
        let app = &c.oidc.clients[0];
        assert_eq!(
            app.redirect_uris,
            [
                "https://photos.example.com/auth/login",
                "https://photos.example.com/user-settings",
                "app.immich:///oauth-callback"
            ]
        );
        assert_eq!(app.logout_uris.len(), 2);
        let problems = load(&[
            ("AUTH_OIDC_CLIENT_IMMICH_ID", "immich"),
            (
                "AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS",
                "https://photos.example.com/cb /relative",
            ),
            (
                "AUTH_OIDC_CLIENT_IMMICH_LOGOUT_URIS",
                "https://photos.example.com/ javascript:alert(1)",
            ),
        ])
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS: \"/relative\" is not an absolute URL \
                 (relative URL without a base)",
                "AUTH_OIDC_CLIENT_IMMICH_LOGOUT_URIS: \"javascript:alert(1)\" has scheme \
                 javascript: not a redirect target"
            ]
        );
    }
}
