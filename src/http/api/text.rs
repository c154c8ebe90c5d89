//! Strict strings for request bodies. poem-openapi's `String` also takes a
//! JSON number or boolean and turns it into text; these refuse anything but
//! a JSON string, as the OpenAPI document says.
//!
//! - [`Text`]: any string (a URI, a host pattern), at most 512 bytes;
//! - [`LongText`]: any string up to 8 KiB (a passkey sign-in's
//!   `challenge_id`, which carries its ceremony);
//! - [`Name`]: what the owner calls a passkey, an app or a token: 1 to 64
//!   characters once trimmed, no control characters.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};

/// Any string from a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

/// Any string from a JSON body, up to [`LONG_TEXT_MAX_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongText(pub String);

/// A name: trimmed, 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub String);

/// Longest [`Text`] (bytes): bodies stay far below the 16 KiB limit.
pub const TEXT_MAX_BYTES: usize = 512;

/// Longest [`LongText`] (bytes): a sign-in's `challenge_id`
/// (`auth::passkeys::MAX_CHALLENGE_ID`), half the body limit.
pub const LONG_TEXT_MAX_BYTES: usize = 8192;

/// Most characters a [`Name`] keeps.
pub const NAME_MAX_CHARS: usize = 64;

macro_rules! strict_string {
    ($ty:ident, $name:literal, $schema:expr, $check:expr) => {
        impl Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromJSON for $ty {
            fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
                match value {
                    Some(serde_json::Value::String(s)) => {
                        $check(s).map($ty).map_err(ParseError::custom)
                    }
                    _ => Err(ParseError::custom("expected a string")),
                }
            }
        }

        impl ToJSON for $ty {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::String(self.0.clone()))
            }
        }
    };
}

fn text_schema() -> MetaSchema {
    let mut schema = MetaSchema::new("string");
    schema.max_length = Some(TEXT_MAX_BYTES);
    schema
}

fn long_text_schema() -> MetaSchema {
    let mut schema = MetaSchema::new("string");
    schema.max_length = Some(LONG_TEXT_MAX_BYTES);
    schema
}

fn name_schema() -> MetaSchema {
    let mut schema = MetaSchema::new("string");
    schema.min_length = Some(1);
    schema.max_length = Some(NAME_MAX_CHARS);
    schema.pattern =
        Some(r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$".into());
    schema
}

fn check_text(s: String) -> Result<String, &'static str> {
    if s.len() > TEXT_MAX_BYTES {
        return Err("too long (at most 512 bytes)");
    }
    Ok(s)
}

fn check_long_text(s: String) -> Result<String, &'static str> {
    if s.len() > LONG_TEXT_MAX_BYTES {
        return Err("too long (at most 8192 bytes)");
    }
    Ok(s)
}

fn check_name(s: String) -> Result<String, &'static str> {
    let name = s.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err("a name is 1 to 64 characters, without control characters");
    }
    Ok(name.to_string())
}

strict_string!(Text, "string_text", text_schema(), check_text);
strict_string!(
    LongText,
    "string_long_text",
    long_text_schema(),
    check_long_text
);
strict_string!(Name, "string_name", name_schema(), check_name);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_json_strings_are_taken_and_names_are_trimmed_and_checked() {
        assert!(Text::parse_from_json(Some(json!(3))).is_err());
        assert!(Text::parse_from_json(Some(json!(true))).is_err());
        assert!(Text::parse_from_json(Some(json!("x".repeat(513)))).is_err());
        assert!(LongText::parse_from_json(Some(json!(3))).is_err());
        assert!(LongText::parse_from_json(Some(json!("x".repeat(8192)))).is_ok());
        assert!(LongText::parse_from_json(Some(json!("x".repeat(8193)))).is_err());
        assert_eq!(
            Text::parse_from_json(Some(json!("a"))).unwrap(),
            Text("a".into())
        );
        assert_eq!(
            Name::parse_from_json(Some(json!("  Laptop "))).unwrap(),
            Name("Laptop".into())
        );
        for bad in [
            json!(""),
            json!("   "),
            json!("a\nb"),
            json!("x".repeat(65)),
            json!(1),
        ] {
            assert!(Name::parse_from_json(Some(bad.clone())).is_err(), "{bad}");
        }
    }
}
