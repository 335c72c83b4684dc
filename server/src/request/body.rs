//! Request bodies: JSON forms read within the size limit and the body
//! timeout, every failure mapped to its API error, and the unread body of a
//! refused request drained so that its client reads the answer.

use salvo::http::{ParseError, header};
use salvo::prelude::*;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::forms::Form;

/// Reads the body as JSON into `T`, within the configured size limit and
/// body timeout (408 `request_timeout`).
///
/// Without a JSON content type (`application/json`) 415, over the limit 413, not well-formed 400
/// `malformed_json`, and well-formed but of the wrong shape (missing or unknown
/// field, wrong type) 422 `invalid_field` naming the field.
pub(crate) async fn json_body<T: DeserializeOwned>(
    req: &mut Request,
    config: &crate::config::Config,
) -> Result<T, ApiError> {
    parse_json(&json_bytes(req, config).await?)
}

/// The bytes of a JSON body: 415 without a JSON content type, 413 over the
/// limit, 408 too slow.
async fn json_bytes(
    req: &mut Request,
    config: &crate::config::Config,
) -> Result<bytes::Bytes, ApiError> {
    // Required: a form on another site can post a "simple" request (no
    // preflight) only without a JSON content type.
    let is_json = media_type(req)
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    read_body(req, config.max_body_bytes, config.body_timeout).await
}

/// The request's media type: its `Content-Type` without parameters, in
/// lower case (`application/json` for `Application/JSON; charset=utf-8`).
pub(crate) fn media_type(req: &Request) -> Option<String> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

/// The body, within `limit` bytes and the body timeout: over the limit 413,
/// too slow 408 (a trickling client holds nothing for long), unreadable 400.
pub(crate) async fn read_body(
    req: &mut Request,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<bytes::Bytes, ApiError> {
    let declared_too_large = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|len| len > limit);
    if declared_too_large {
        // Refused unread; the body is drained before the answer goes out.
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let read = tokio::time::timeout(timeout, req.payload_with_max_size(limit)).await;
    match read {
        Err(_) => Err(ApiError::RequestTimeout {
            secs: timeout.as_secs(),
        }),
        Ok(Ok(bytes)) => Ok(bytes.clone()),
        Ok(Err(ParseError::PayloadTooLarge)) => Err(ApiError::PayloadTooLarge { limit }),
        Ok(Err(other)) => Err(ApiError::BadRequest {
            code: "unreadable_body",
            message: format!("request body could not be read: {other}"),
        }),
    }
}

/// Most body bytes read and thrown away before a refusal is answered.
const DISCARD_LIMIT: usize = 16 << 20;
/// Longest time spent reading and dropping a refused request's body.
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and drops a refused request's body (up to [`DISCARD_LIMIT`] bytes,
/// for at most [`DISCARD_TIME`]), so the client can finish sending and read
/// the answer: closing a connection with unread bytes resets it, and the
/// client may then never see its 4xx.
async fn discard_body(req: &mut Request) {
    use futures::StreamExt;
    let mut body = req.take_body();
    let drain = async {
        let mut read = 0;
        while read <= DISCARD_LIMIT {
            match body.next().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, bytes::Bytes::len),
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIME, drain).await;
}

/// Drains the unread body of every refused request ([`discard_body`]),
/// whichever check refused it, before the answer goes out.
pub(crate) struct DrainRefused;

#[async_trait]
impl Handler for DrainRefused {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        ctrl.call_next(req, depot, res).await;
        let refused = res
            .status_code
            .is_some_and(|s| s.is_client_error() || s.is_server_error());
        if refused {
            discard_body(req).await;
        }
    }
}

/// Reads a [`Form`] as [`json_body`] does: its own fields into `T`, every
/// other top-level field into the map (for the form to judge).
pub(crate) async fn form_body<T: Form>(
    req: &mut Request,
    config: &crate::config::Config,
) -> Result<(T, serde_json::Map<String, serde_json::Value>), ApiError> {
    parse_form(&json_bytes(req, config).await?)
}

/// Parses `bytes` as a [`Form`] ([`form_body`]).
pub(crate) fn parse_form<T: Form>(
    bytes: &[u8],
) -> Result<(T, serde_json::Map<String, serde_json::Value>), ApiError> {
    let serde_json::Value::Object(mut fields) = checked_document(bytes)? else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a checked body is an object"
        )));
    };
    let others: Vec<String> = fields
        .keys()
        .filter(|key| !T::FIELDS.contains(&key.as_str()))
        .cloned()
        .collect();
    if others.is_empty() {
        return Ok((typed(bytes)?, serde_json::Map::new()));
    }
    let extra = others
        .into_iter()
        .filter_map(|key| fields.remove_entry(&key))
        .collect();
    let own = serde_json::to_vec(&fields).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((typed(&own)?, extra))
}

/// Parses `bytes` as JSON into `T` with the error mapping of [`json_body`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    checked_document(bytes)?;
    typed(bytes)
}

/// `bytes` as a JSON object without NUL characters: 400 `malformed_json`
/// when it is not JSON, 422 when it is not such an object.
fn checked_document(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest {
            code: "malformed_json",
            message: "request body is empty; a JSON object is expected".into(),
        });
    }
    // Syntax first: a truncated document must be a 400 even when its first
    // value already has the wrong type.
    let document: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(document) => document,
        Err(e) => {
            return Err(ApiError::BadRequest {
                code: "malformed_json",
                message: format!("request body is not valid JSON: {e}"),
            });
        }
    };
    // Every body is an object (serde would read a struct from an array too).
    if !document.is_object() {
        return Err(ApiError::Unprocessable {
            code: "invalid_field",
            message: "the body must be a JSON object".into(),
            field: Some("body".into()),
        });
    }
    // A NUL is refused wherever it is, the same way on every database (it
    // cannot be stored in PostgreSQL text, and no field has a use for it).
    if let Some(path) = nul_path(&document, String::new()) {
        return Err(ApiError::Unprocessable {
            code: "invalid_field",
            message: "must not contain NUL characters".into(),
            field: Some(path),
        });
    }
    Ok(document)
}

/// `bytes`, a checked document, into `T`: 422 naming the field of the wrong
/// shape.
fn typed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut de)
        .map_err(|err| (err.path().to_string(), err.into_inner()))
        .and_then(|value: T| de.end().map(|()| value).map_err(|e| (".".to_owned(), e)));
    parsed.map_err(|(path, inner)| {
        if inner.is_data() {
            let message = inner.to_string();
            ApiError::Unprocessable {
                code: "invalid_field",
                field: field_of(&path, &message),
                message,
            }
        } else {
            ApiError::BadRequest {
                code: "malformed_json",
                message: format!("request body is not valid JSON: {inner}"),
            }
        }
    })
}

/// The path of the first string (value or key) in `value` holding a NUL.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(|| {
            if path.is_empty() {
                ".".to_owned()
            } else {
                path.clone()
            }
        }),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(key))
            } else {
                nul_path(item, join(key))
            }
        }),
        _ => None,
    }
}

/// The field a serde data error is about: its path, plus the field named by an
/// "unknown field `x`" or "missing field `x`" message.
fn field_of(path: &str, message: &str) -> Option<String> {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| {
            let rest = message.strip_prefix(prefix)?;
            rest.split_once('`').map(|(name, _)| name)
        });
    let path = (path != ".").then_some(path);
    match (path, named) {
        // An unknown field is already the last step of the path; a missing one is not.
        (Some(path), Some(name)) if path == name || path.ends_with(&format!(".{name}")) => {
            Some(path.to_owned())
        }
        (Some(path), Some(name)) => Some(format!("{path}.{name}")),
        (Some(path), None) => Some(path.to_owned()),
        (None, Some(name)) => Some(name.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        count: u32,
    }

    fn err_of(body: &str) -> ApiError {
        parse_json::<Sample>(body.as_bytes()).expect_err("must fail")
    }

    #[test]
    fn json_errors_are_classified() {
        assert!(matches!(
            err_of(""),
            ApiError::BadRequest {
                code: "malformed_json",
                ..
            }
        ));
        assert!(matches!(
            err_of("{"),
            ApiError::BadRequest {
                code: "malformed_json",
                ..
            }
        ));
        assert!(matches!(
            err_of(r#"{"name": "a", "count": 1} {}"#),
            ApiError::BadRequest {
                code: "malformed_json",
                ..
            }
        ));
        match err_of(r#"{"name": "a", "count": "x"}"#) {
            ApiError::Unprocessable { field, .. } => assert_eq!(field.as_deref(), Some("count")),
            other => panic!("{other:?}"),
        }
        match err_of(r#"{"name": "a", "count": 1, "extra": 1}"#) {
            ApiError::Unprocessable { field, .. } => assert_eq!(field.as_deref(), Some("extra")),
            other => panic!("{other:?}"),
        }
        match err_of(r#"{"name": "a"}"#) {
            ApiError::Unprocessable { field, .. } => assert_eq!(field.as_deref(), Some("count")),
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any bytes as a form body: parsed or refused as a 400/422, never a
        /// panic, never anything else.
        #[test]
        fn any_body_is_parsed_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            match parse_json::<crate::forms::lead::LeadRequest>(&bytes) {
                Ok(_) => {}
                Err(ApiError::BadRequest { .. } | ApiError::Unprocessable { .. }) => {}
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }

        /// JSON documents of any shape (within the depth a body may have).
        #[test]
        fn any_json_is_parsed_or_refused(value in json_value()) {
            let bytes = serde_json::to_vec(&value).expect("serializes");
            match parse_json::<crate::forms::join::JoinRequest>(&bytes) {
                Ok(_) => {}
                Err(ApiError::BadRequest { .. } | ApiError::Unprocessable { .. }) => {}
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            ".{0,40}".prop_map(serde_json::Value::from),
            prop_oneof![
                Just("campaign"),
                Just("email"),
                Just("name"),
                Just("referral_code")
            ]
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("campaign".to_owned()),
                        Just("email".to_owned()),
                        Just("name".to_owned()),
                        ".{0,12}".prop_map(|s| s)
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
