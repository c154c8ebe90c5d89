//! Records in and out of storage, and [`StoreError`]: what every
//! [`Store`](super::Store) method returns when it cannot do its work.
//!
//! Records are JSON. **A record that does not decode is an error, never an
//! absent record**: `decode` answers a `Result` naming the tree and the
//! key, and no function here turns that into an `Option`. The few places
//! that may pass over a record they cannot read (listings shown to the
//! owner, purges) do so through the named helpers of the `tree` module, which
//! log it and leave it as it is; nothing writes or deletes on the strength
//! of a failed read.
//!
//! The log names the tree and the key, never the value: records hold hashes
//! and encrypted secrets, and serde's own message can quote the value, so
//! only its category and position are kept.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled's own failure (I/O, corruption it detected, a bug it reports).
    #[error(transparent)]
    Sled(#[from] sled::Error),
    /// A stored record that does not decode: left as it is.
    #[error("the record {key} in tree {tree} does not decode ({reason})")]
    Undecodable {
        tree: &'static str,
        key: String,
        reason: String,
    },
    /// A record that cannot be encoded (a bug): nothing was written.
    #[error("a record for {key} in tree {tree} cannot be encoded")]
    Unencodable { tree: &'static str, key: String },
}

impl StoreError {
    /// True for a stored record that does not decode.
    pub fn is_undecodable(&self) -> bool {
        matches!(self, StoreError::Undecodable { .. })
    }
}

/// A key as the log shows it: text when it is text, else hex.
pub(crate) fn show_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) => text.escape_debug().to_string(),
        Err(_) => format!("0x{}", hex::encode(key)),
    }
}

/// The error for the record `key` of `tree` that cannot be read, logged.
pub(crate) fn unreadable(tree: &'static str, key: &[u8], reason: String) -> StoreError {
    let key = show_key(key);
    tracing::error!(tree, key = %key, %reason, "a stored record does not decode: left as it is");
    StoreError::Undecodable { tree, key, reason }
}

/// Decodes the record `key` of `tree`; one that does not decode is an error.
pub(crate) fn decode<'a, T: Deserialize<'a>>(
    tree: &'static str,
    key: &[u8],
    raw: &'a [u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| {
        let category = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "not the expected record",
            serde_json::error::Category::Eof => "cut short",
        };
        let reason = format!("{category} at line {} column {}", e.line(), e.column());
        unreadable(tree, key, reason)
    })
}

/// Encodes the record `key` of `tree`. A record that cannot be encoded is
/// an error (a bug), never stored as an empty value.
pub(crate) fn encode<T: Serialize>(
    tree: &'static str,
    key: &[u8],
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|_| {
        let key = show_key(key);
        tracing::error!(tree, key = %key, "a record cannot be encoded: nothing written");
        StoreError::Unencodable { tree, key }
    })
}

/// What a transaction over records stops with: its own answer `A` (see
/// sled's `abort`), or a record it could not decode or encode.
pub(crate) enum Halt<A> {
    Answer(A),
    Failed(StoreError),
}

/// A transaction's error type, for closures over records.
pub(crate) type TxError<A> = ConflictableTransactionError<Halt<A>>;

fn failed<A>(e: StoreError) -> TxError<A> {
    ConflictableTransactionError::Abort(Halt::Failed(e))
}

/// Stops a transaction with its answer `answer` (nothing written).
pub(crate) fn halt<T, A>(answer: A) -> Result<T, TxError<A>> {
    Err(ConflictableTransactionError::Abort(Halt::Answer(answer)))
}

/// The record `key` of the transaction's tree `name`: a record that does
/// not decode aborts the transaction with its error (nothing written).
pub(crate) fn tx_read<T: serde::de::DeserializeOwned, A>(
    tree: &TransactionalTree,
    name: &'static str,
    key: &[u8],
) -> Result<Option<T>, TxError<A>> {
    match tree.get(key)? {
        Some(raw) => decode(name, key, &raw).map(Some).map_err(failed),
        None => Ok(None),
    }
}

/// Writes the record `key` of the transaction's tree `name`; one that
/// cannot be encoded aborts the transaction (nothing written).
pub(crate) fn tx_write<T: Serialize, A>(
    tree: &TransactionalTree,
    name: &'static str,
    key: &[u8],
    value: &T,
) -> Result<(), TxError<A>> {
    tree.insert(key, encode(name, key, value).map_err(failed)?)?;
    Ok(())
}

/// A transaction's outcome: `Ok(Ok(_))` committed, `Ok(Err(answer))`
/// stopped by [`halt`], `Err` a record or storage failure.
pub(crate) fn settled<R, A>(
    result: Result<R, TransactionError<Halt<A>>>,
) -> Result<Result<R, A>, StoreError> {
    match result {
        Ok(done) => Ok(Ok(done)),
        Err(TransactionError::Abort(Halt::Answer(answer))) => Ok(Err(answer)),
        Err(TransactionError::Abort(Halt::Failed(e))) => Err(e),
        Err(TransactionError::Storage(e)) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undecodable_record_names_tree_and_key_but_never_the_value() {
        let secret = br#"{"hash": 42, "encrypted": "gAAAAA-secret-value"}"#;
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Record {
            hash: String,
        }
        let e = decode::<Record>("api_tokens", b"tok1", secret).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("api_tokens") && shown.contains("tok1"),
            "{shown}"
        );
        assert!(
            !shown.contains("secret-value") && !shown.contains("42"),
            "{shown}"
        );
        assert!(e.is_undecodable());
    }

    #[test]
    fn keys_show_as_text_or_hex() {
        assert_eq!(show_key(b"session-1"), "session-1");
        assert_eq!(show_key(b"ip\0::1"), "ip\\0::1");
        assert_eq!(show_key(&[0xff, 0x01]), "0xff01");
    }
}
