//! [`OAuthForm`]: an OAuth endpoint's form body, read the lenient way OAuth
//! clients need. Any request reaches the endpoint: a body that is not
//! `application/x-www-form-urlencoded` (or no body at all) reads as no
//! parameters, and each endpoint then answers as OAuth says for a missing
//! one (`invalid_request`, an error page) instead of soloauth's generic 400.
//! A parameter sent twice counts once (the first).

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::{Map, Value};

/// The parameters of a form body, as `T` (every field an optional string).
pub struct OAuthForm<T>(pub T);

/// Reads `application/x-www-form-urlencoded` pairs into `T`; anything else,
/// or pairs that do not fit `T`, is `T::default()`.
pub fn parse_form<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> T {
    let mut fields = Map::new();
    for (key, value) in url::form_urlencoded::parse(bytes) {
        fields
            .entry(key.into_owned())
            .or_insert_with(|| Value::String(value.into_owned()));
    }
    serde_json::from_value(Value::Object(fields)).unwrap_or_default()
}

impl<'a, T> ApiExtractor<'a> for OAuthForm<T>
where
    T: Type + serde::de::DeserializeOwned + Default + Send,
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/x-www-form-urlencoded",
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let bytes = body.take()?.into_vec().await?;
        let is_form = req
            .content_type()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        Ok(OAuthForm(if is_form {
            parse_form(&bytes)
        } else {
            T::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    struct Pair {
        a: Option<String>,
        b: Option<String>,
    }

    #[test]
    fn pairs_are_read_once_each_and_odd_bodies_read_as_nothing() {
        let p: Pair = parse_form(b"a=1&b=x%20y&a=2&c=3");
        assert_eq!(p.a.as_deref(), Some("1"));
        assert_eq!(p.b.as_deref(), Some("x y"));
        let empty: Pair = parse_form(b"");
        assert_eq!(empty, Pair::default());
    }
}
