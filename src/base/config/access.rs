//! Forward auth's access rules (`AUTH_RULES`, parsed by
//! [`crate::base::rules`]) and the policy for requests no rule matches
//! (`AUTH_DEFAULT_POLICY`, which may not be `bypass`).

use crate::base::config::reader::Reader;
use crate::base::rules::{Policy, Rules};

/// Reads the default policy and the rules.
pub(super) fn read(r: &mut Reader) -> Rules {
    let default_policy = match r.var("AUTH_DEFAULT_POLICY").as_deref().map(str::trim) {
        None => Policy::OneFactor,
        Some("bypass") => {
            r.problem(
                "AUTH_DEFAULT_POLICY=bypass would let any unproxied request through; \
                 use bypass rules for the paths to open",
            );
            Policy::OneFactor
        }
        Some(name) => Policy::parse(name).unwrap_or_else(|| {
            r.problem(format!(
                "AUTH_DEFAULT_POLICY={name:?} must be one_factor, two_factor, passkey or deny"
            ));
            Policy::OneFactor
        }),
    };
    Rules::parse(&r.var("AUTH_RULES").unwrap_or_default(), default_policy).unwrap_or_else(
        |problems| {
            r.problems(problems);
            Rules::none(default_policy)
        },
    )
}
