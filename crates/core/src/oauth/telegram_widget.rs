//! The Telegram Login Widget's signed answer, checked as Telegram documents it
//! (core.telegram.org/widgets/login, "Checking authorization"): the data-check-string is every
//! received field but `hash`, as `key=value` lines sorted by key; the key is SHA-256 of the bot
//! token; `hash` is hex HMAC-SHA-256 of the string under that key. A captured answer would sign
//! in forever, so `auth_date` must also be recent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How old a widget answer may be. Telegram signs it when the user confirms; the page posts it
/// at once, so ten minutes covers a slow network and a skewed clock, not a replay next week.
pub const MAX_AGE_SECONDS: i64 = 600;
/// A widget answer dated this far in the future is refused too (the signer's clock is Telegram's).
const FUTURE_SKEW_SECONDS: i64 = 60;

/// The Telegram user the widget vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetUser {
    pub id: String,
    pub name: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidgetError {
    #[error("the widget data has no {0}")]
    Missing(&'static str),
    #[error("the widget data's field {0} is not a string or an integer")]
    Malformed(String),
    #[error("the widget data's hash does not match")]
    BadSignature,
    #[error("the widget data is {age} s old")]
    Stale { age: i64 },
}

/// A field as the widget sent it: strings as they are, integers in decimal.
fn field_text(name: &str, value: &Value) -> Result<String, WidgetError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) if number.is_i64() || number.is_u64() => Ok(number.to_string()),
        _ => Err(WidgetError::Malformed(name.to_owned())),
    }
}

/// Checks the widget's answer against the bot token, at `now`.
pub fn verify(data: &BTreeMap<String, Value>, bot_token: &str, now: DateTime<Utc>) -> Result<WidgetUser, WidgetError> {
    let hash = data.get("hash").ok_or(WidgetError::Missing("hash"))?;
    let hash = field_text("hash", hash)?;
    let expected = sign(data, bot_token)?;
    if !bool::from(expected.as_bytes().ct_eq(hash.to_ascii_lowercase().as_bytes())) {
        return Err(WidgetError::BadSignature);
    }
    // Only now, with the data proven Telegram's, do its fields mean anything.
    let auth_date = data.get("auth_date").ok_or(WidgetError::Missing("auth_date"))?;
    let auth_date: i64 =
        field_text("auth_date", auth_date)?.parse().map_err(|_| WidgetError::Malformed("auth_date".into()))?;
    let age = now.timestamp() - auth_date;
    if !(-FUTURE_SKEW_SECONDS..=MAX_AGE_SECONDS).contains(&age) {
        return Err(WidgetError::Stale { age });
    }
    let text = |name: &str| data.get(name).and_then(|value| field_text(name, value).ok()).filter(|t| !t.is_empty());
    let id = text("id").ok_or(WidgetError::Missing("id"))?;
    let name = match (text("first_name"), text("last_name")) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (first, last) => first.or(last),
    };
    Ok(WidgetUser { id, name, username: text("username") })
}

/// Hex HMAC-SHA-256 of the data-check-string under SHA-256 of the bot token; also how the
/// tests sign widget data as Telegram would.
pub fn sign(data: &BTreeMap<String, Value>, bot_token: &str) -> Result<String, WidgetError> {
    let mut lines = Vec::with_capacity(data.len());
    // BTreeMap iterates in key order: the sort Telegram asks for.
    for (name, value) in data.iter().filter(|(name, _)| name.as_str() != "hash") {
        lines.push(format!("{name}={}", field_text(name, value)?));
    }
    let key = Sha256::digest(bot_token.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| WidgetError::BadSignature)?;
    mac.update(lines.join("\n").as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    const BOT_TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    fn signed(fields: Value) -> BTreeMap<String, Value> {
        let mut data: BTreeMap<String, Value> = serde_json::from_value(fields).unwrap();
        let hash = sign(&data, BOT_TOKEN).unwrap();
        data.insert("hash".into(), json!(hash));
        data
    }

    fn widget(auth_date: i64) -> BTreeMap<String, Value> {
        signed(json!({"id": 424242, "first_name": "Pavel", "last_name": "D", "username": "pd", "auth_date": auth_date}))
    }

    #[test]
    fn a_fresh_signed_answer_is_the_user() {
        let user = verify(&widget(1_700_000_000 - 30), BOT_TOKEN, now()).unwrap();
        assert_eq!(user, WidgetUser { id: "424242".into(), name: Some("Pavel D".into()), username: Some("pd".into()) });
    }

    #[test]
    fn the_data_check_string_is_sorted_lines_without_the_hash() {
        // Computed independently: key = SHA-256(token), HMAC over "auth_date=1\nfirst_name=A\nid=7".
        let data: BTreeMap<String, Value> =
            serde_json::from_value(json!({"id": 7, "first_name": "A", "auth_date": 1})).unwrap();
        let key = Sha256::digest(BOT_TOKEN.as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(b"auth_date=1\nfirst_name=A\nid=7");
        assert_eq!(sign(&data, BOT_TOKEN).unwrap(), hex::encode(mac.finalize().into_bytes()));
    }

    #[test]
    fn any_changed_field_another_bot_or_no_hash_is_refused() {
        let mut changed = widget(1_700_000_000);
        changed.insert("id".into(), json!(1));
        assert_eq!(verify(&changed, BOT_TOKEN, now()), Err(WidgetError::BadSignature));
        let mut added = widget(1_700_000_000);
        added.insert("photo_url".into(), json!("https://t.me/i/userpic/320/x.jpg"));
        assert_eq!(verify(&added, BOT_TOKEN, now()), Err(WidgetError::BadSignature));
        assert_eq!(verify(&widget(1_700_000_000), "654321:other-bot", now()), Err(WidgetError::BadSignature));
        let mut unsigned = widget(1_700_000_000);
        unsigned.remove("hash");
        assert_eq!(verify(&unsigned, BOT_TOKEN, now()), Err(WidgetError::Missing("hash")));
        let nested: BTreeMap<String, Value> =
            serde_json::from_value(json!({"id": {"x": 1}, "auth_date": 1_700_000_000, "hash": "00"})).unwrap();
        assert_eq!(verify(&nested, BOT_TOKEN, now()), Err(WidgetError::Malformed("id".into())));
    }

    #[test]
    fn stale_or_future_answers_are_refused() {
        assert!(verify(&widget(1_700_000_000 - MAX_AGE_SECONDS), BOT_TOKEN, now()).is_ok());
        let stale = verify(&widget(1_700_000_000 - MAX_AGE_SECONDS - 1), BOT_TOKEN, now());
        assert_eq!(stale, Err(WidgetError::Stale { age: MAX_AGE_SECONDS + 1 }));
        assert_eq!(verify(&widget(1_700_000_000 + 3600), BOT_TOKEN, now()), Err(WidgetError::Stale { age: -3600 }));
    }
}
