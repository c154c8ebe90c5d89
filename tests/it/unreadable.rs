//! A record that does not decode is an error, never a deletion (API
//! reference, "Data that survives"): bytes planted in a stopped server's
//! data directory, over a real passkey's record, make the calls that would
//! change it answer `503 storage_unavailable`, while the rest works; after
//! a restart the bytes are still there.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::authenticator::SoftAuthenticator;
use crate::common::Server;
use crate::passkeys::{register, signed_in_with};

const UNDECODABLE: &[u8] = b"{\"name\": \"half a rec";

/// Runs `work` on the sled tree `name` of the stopped server in `dir`,
/// then waits until sled lets go of the directory.
fn with_tree<T>(dir: &Path, name: &str, work: impl FnOnce(&sled::Tree) -> T) -> T {
    let db = sled::Config::new().path(dir.join("db")).open().unwrap();
    let done = work(&db.open_tree(name).unwrap());
    db.flush().unwrap();
    drop(db);
    let lock = dir.join("db").join("db");
    for _ in 0..500 {
        let file = std::fs::File::open(&lock).unwrap();
        if file.try_lock().is_ok() {
            return done;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("sled keeps the data directory");
}

fn raw_id(id: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .unwrap()
}

#[tokio::test]
async fn an_undecodable_passkey_answers_503_to_its_rename_and_use_and_stays() {
    let mut s = Server::start().await;
    let t = s.login().await;
    let mut phone = SoftAuthenticator::new("localhost", "http://localhost:8001");
    let mut laptop = SoftAuthenticator::new("localhost", "http://localhost:8001");
    let phone_id = register(&s, &t.access, &mut phone, "Phone").await;
    let laptop_id = register(&s, &t.access, &mut laptop, "Laptop").await;
    s.stop().await;
    with_tree(s.dir.path(), "passkeys", |tree| {
        tree.insert(raw_id(&phone_id), UNDECODABLE).unwrap();
    });

    let s = s.restart().await;
    // A passkey is a second factor now: the laptop's signs in alone.
    let t = signed_in_with(&s, &mut laptop).await;
    let rename = format!("/auth/passkeys/{phone_id}");
    let r = s
        .patch(&rename, json!({"name": "Pixel"}), Some(&t.access))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error(), "storage_unavailable", "{}", r.body);

    // Its use: the sign-in that would count it answers 503 too.
    let r = s
        .post("/auth/passkeys/login/start", Value::Null, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let challenge = r.body["challenge_id"].as_str().unwrap().to_string();
    let answer = phone.get(&r.body["options"]);
    let body = json!({"challenge_id": challenge, "credential": answer});
    let r = s.post("/auth/passkeys/login/finish", body, None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error(), "storage_unavailable", "{}", r.body);

    // The others are listed and can be changed.
    let r = s.get("/auth/passkeys", Some(&t.access)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [laptop_id.as_str()]);
    let other = format!("/auth/passkeys/{laptop_id}");
    let r = s
        .patch(&other, json!({"name": "Work"}), Some(&t.access))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A restart (housekeeping's first round runs at start) changes nothing.
    let mut s = s.restart().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.stop().await;
    let kept = with_tree(s.dir.path(), "passkeys", |tree| {
        tree.get(raw_id(&phone_id)).unwrap()
    });
    assert_eq!(kept.as_deref(), Some(UNDECODABLE));
}
