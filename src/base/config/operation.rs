//! How the server is run: development or production (`AUTH_ENV`), where
//! its data lives, how it logs, the snapshots it writes while running, and
//! where sign-in alerts go (their settings are checked by
//! [`crate::base::notify_config`]).

use std::path::PathBuf;

use crate::base::config::reader::Reader;
use crate::base::config::LogFormat;
use crate::base::notify_config::{self, NotifyConfig};

/// The longest snapshot interval, in hours (a year).
pub const MAX_BACKUP_INTERVAL_HOURS: u32 = 8760;
/// The most snapshots kept.
pub const MAX_BACKUP_KEEP: u32 = 1000;

/// The operating settings read (all but `AUTH_ENV`, read first: see [`production`]).
pub(super) struct Operation {
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub backup_interval_hours: u32,
    pub backup_keep: u32,
    pub notify: Option<NotifyConfig>,
}

/// True for `AUTH_ENV=production`. A value other than `development` or
/// `production` is a problem, and counts as production meanwhile so that
/// every missing secret is reported too.
pub(super) fn production(r: &mut Reader) -> bool {
    match r.var("AUTH_ENV").as_deref().map(str::trim) {
        None | Some("development") => false,
        Some("production") => true,
        Some(other) => {
            r.problem(format!(
                "AUTH_ENV={other:?} must be \"development\" or \"production\""
            ));
            true
        }
    }
}

/// Reads and checks the operating settings.
pub(super) fn read(r: &mut Reader) -> Operation {
    let data_dir = PathBuf::from(r.var("AUTH_DATA_DIR").unwrap_or_else(|| "./data".into()));
    let log_format = match r.var("AUTH_LOG_FORMAT").as_deref().map(str::trim) {
        None | Some("pretty") => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some(other) => {
            r.problem(format!(
                "AUTH_LOG_FORMAT={other:?} must be \"pretty\" or \"json\""
            ));
            LogFormat::Pretty
        }
    };
    let backup_interval_hours = r.ranged(
        "AUTH_BACKUP_INTERVAL_HOURS",
        24,
        0,
        MAX_BACKUP_INTERVAL_HOURS,
    );
    let backup_keep = r.ranged("AUTH_BACKUP_KEEP", 7, 1, MAX_BACKUP_KEEP);
    let notify_url = r.secret("AUTH_NOTIFY_URL");
    let notify = notify_config::read(
        notify_url,
        r.var("AUTH_NOTIFY_FORMAT").as_deref(),
        r.var("AUTH_NOTIFY_EVENTS").as_deref(),
    )
    .unwrap_or_else(|problems| {
        r.problems(problems);
        None
    });
    Operation {
        data_dir,
        log_format,
        backup_interval_hours,
        backup_keep,
        notify,
    }
}

#[cfg(test)]
mod tests {
    use crate::base::config::load;

    #[test]
    fn snapshot_settings_are_bounded() {
        let c = load(&[
            ("AUTH_BACKUP_INTERVAL_HOURS", "0"),
            ("AUTH_BACKUP_KEEP", "1"),
        ])
        .unwrap();
        assert_eq!((c.backup_interval_hours, c.backup_keep), (0, 1));
        let problems = load(&[
            ("AUTH_BACKUP_INTERVAL_HOURS", "8761"),
            ("AUTH_BACKUP_KEEP", "0"),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("AUTH_BACKUP_INTERVAL_HOURS must be at most 8760"));
        assert!(problems[1].contains("AUTH_BACKUP_KEEP must be at least 1"));
        let problems = load(&[("AUTH_BACKUP_INTERVAL_HOURS", "1.5")]).unwrap_err();
        assert!(problems[0].contains("not a whole number"), "{problems:?}");
    }
}
