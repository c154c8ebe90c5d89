//! Delivery, off the request path. Handlers hand alerts to the [`Outbox`]
//! (a bounded queue: offering never waits); one [`Courier`] task POSTs them
//! in order, each attempt limited by a timeout, three attempts with a
//! backoff between them, then the alert is dropped and logged. A slow or
//! failing receiver therefore costs a login nothing: it only holds up the
//! alerts behind it, and past [`QUEUE`] of those, new ones are dropped.
//!
//! Errors are described without the URL, which is a secret (reqwest puts it
//! in its errors; they are stripped). Counted in `soloauth_notify_total`:
//! `sent`, `retried` (an attempt failed, another follows), `dropped`.

use std::sync::Arc;

use prometheus::IntCounterVec;
use tokio::sync::{mpsc, oneshot};

use super::alert::Alert;
use super::format::render;
use crate::base::notify_config::NotifyConfig;
use crate::base::secret::ExposeSecret;

/// Alerts waiting at most; more are dropped (and counted).
pub const QUEUE: usize = 64;

/// Where alerts are offered; a no-op when alerts are off.
pub struct Outbox {
    /// The configured events and the queue, when alerts are on.
    sink: Option<(Arc<NotifyConfig>, mpsc::Sender<Alert>)>,
    counter: IntCounterVec,
}

/// The task that delivers what the outbox queued.
pub struct Courier {
    queue: mpsc::Receiver<Alert>,
    poster: Poster,
}

/// Builds the outbox and, when alerts are on, its courier.
pub fn outbox(
    config: Option<&NotifyConfig>,
    counter: IntCounterVec,
) -> Result<(Outbox, Option<Courier>), String> {
    let Some(config) = config else {
        return Ok((
            Outbox {
                sink: None,
                counter,
            },
            None,
        ));
    };
    let config = Arc::new(config.clone());
    let (tx, rx) = mpsc::channel(QUEUE);
    let poster = Poster::new(config.clone(), Some(counter.clone()))?;
    let courier = Courier { queue: rx, poster };
    let outbox = Outbox {
        sink: Some((config, tx)),
        counter,
    };
    Ok((outbox, Some(courier)))
}

impl Outbox {
    /// True when events of kind `name` are alerted about.
    pub fn wants(&self, name: &str) -> bool {
        self.sink.as_ref().is_some_and(|(c, _)| c.wants(name))
    }

    /// Queues `alert` without waiting; a full queue drops it.
    pub fn offer(&self, alert: Alert) {
        let Some((_, queue)) = &self.sink else {
            return;
        };
        let (kind, why) = match queue.try_send(alert) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(a)) => (a.kind, "alerts are already waiting"),
            Err(mpsc::error::TrySendError::Closed(a)) => (a.kind, "the server is shutting down"),
        };
        self.counter.with_label_values(&["dropped"]).inc();
        tracing::warn!(kind, "sign-in alert dropped: {why}");
    }

    /// Alerts waiting for the courier.
    pub fn queued(&self) -> usize {
        self.sink
            .as_ref()
            .map_or(0, |(_, q)| q.max_capacity() - q.capacity())
    }
}

impl Courier {
    /// Delivers queued alerts until `stop`, then what was queued before it.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        loop {
            tokio::select! {
                next = self.queue.recv() => match next {
                    Some(alert) => {
                        let _ = self.poster.deliver(&alert).await;
                    }
                    None => return,
                },
                _ = &mut stop => break,
            }
        }
        self.queue.close();
        while let Some(alert) = self.queue.recv().await {
            let _ = self.poster.deliver(&alert).await;
        }
    }
}

/// POSTs alerts to the configured receiver.
pub struct Poster {
    client: reqwest::Client,
    config: Arc<NotifyConfig>,
    counter: Option<IntCounterVec>,
}

impl Poster {
    /// A client for `config`'s receiver (rustls, no redirects followed);
    /// `counter` counts outcomes when given.
    pub fn new(
        config: Arc<NotifyConfig>,
        counter: Option<IntCounterVec>,
    ) -> Result<Poster, String> {
        let client = reqwest::Client::builder()
            .timeout(config.delivery.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("soloauth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client for alerts: {}", describe(e)))?;
        Ok(Poster {
            client,
            config,
            counter,
        })
    }

    fn count(&self, outcome: &str) {
        if let Some(counter) = &self.counter {
            counter.with_label_values(&[outcome]).inc();
        }
    }

    /// One attempt: `Ok` when the receiver answers 2xx.
    pub async fn attempt(&self, alert: &Alert) -> Result<(), String> {
        let rendered = render(self.config.format, alert);
        let mut request = self
            .client
            .post(self.config.url.expose_secret())
            .header("content-type", rendered.content_type);
        for (name, value) in rendered.headers {
            request = request.header(name, value);
        }
        let response = request.body(rendered.body).send().await.map_err(describe)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }

    /// Up to three attempts with the configured backoff; the last failure
    /// when all fail (logged and counted as dropped).
    pub async fn deliver(&self, alert: &Alert) -> Result<(), String> {
        let backoff = self.config.delivery.backoff;
        let mut waits = backoff.iter();
        loop {
            match self.attempt(alert).await {
                Ok(()) => {
                    self.count("sent");
                    return Ok(());
                }
                Err(why) => match waits.next() {
                    Some(wait) => {
                        self.count("retried");
                        tracing::info!(kind = alert.kind, error = %why, "sign-in alert not delivered; trying again");
                        tokio::time::sleep(*wait).await;
                    }
                    None => {
                        self.count("dropped");
                        tracing::warn!(kind = alert.kind, error = %why, attempts = backoff.len() + 1, "sign-in alert dropped");
                        return Err(why);
                    }
                },
            }
        }
    }
}

/// An HTTP client error as a sentence with its causes, without the URL.
fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        return "the receiver did not answer in time".into();
    }
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::notify_config::read;
    use crate::base::secret::SecretString;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let url = Some(SecretString::from("http://127.0.0.1:9/x".to_string()));
        let config = read(url, None, None).unwrap().unwrap();
        let counter = IntCounterVec::new(prometheus::Opts::new("n", "n"), &["outcome"]).unwrap();
        let (outbox, courier) = outbox(Some(&config), counter.clone()).unwrap();
        assert!(courier.is_some() && outbox.wants("lockout") && !outbox.wants("unlock"));
        let alert = Alert::from_host("lockout", "", 0, "http://x");
        for _ in 0..=QUEUE {
            outbox.offer(alert.clone());
        }
        assert_eq!(outbox.queued(), QUEUE);
        assert_eq!(counter.with_label_values(&["dropped"]).get(), 1);

        let (off, none) = super::outbox(None, counter).unwrap();
        assert!(none.is_none() && !off.wants("lockout"));
        off.offer(alert);
        assert_eq!(off.queued(), 0);
    }
}
