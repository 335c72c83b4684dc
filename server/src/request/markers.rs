//! Parts of a request a handler reads itself, described once where
//! `#[endpoint(…)]` cannot say them: a body in more than one media type (the
//! project's own body reader reads it, [`super::body`]) and a list's page
//! ([`super::page`]). A handler takes the marker as an argument (`_body:
//! CampaignFileBody`), which reads nothing and describes that part.

use salvo_oapi::parameter::{Parameter, ParameterIn};
use salvo_oapi::request_body::RequestBody;
use salvo_oapi::schema::{BasicType, Object};
use salvo_oapi::{Content, Required};

use super::MAX_PAGE;

/// A marker that describes a part of the request and reads nothing
/// (`marker!(/// doc, Name, "Name", |components, operation| { … })`).
macro_rules! define_marker {
    ($(#[$doc:meta])* $name:ident, $metadata:literal, |$components:ident, $operation:ident| $describe:block) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct $name;

        impl<'ex> ::salvo::extract::Extractible<'ex> for $name {
            fn metadata() -> &'static ::salvo::extract::Metadata {
                static METADATA: ::std::sync::LazyLock<::salvo::extract::Metadata> =
                    ::std::sync::LazyLock::new(|| ::salvo::extract::Metadata::new($metadata));
                &METADATA
            }

            async fn extract(
                _req: &'ex mut ::salvo::Request,
                _depot: &'ex mut ::salvo::Depot,
            ) -> Result<Self, impl ::salvo::Writer + Send + ::std::fmt::Debug + 'static> {
                Ok::<_, ::salvo::http::StatusError>(Self)
            }
        }

        impl ::salvo_oapi::EndpointArgRegister for $name {
            fn register(
                $components: &mut ::salvo_oapi::Components,
                $operation: &mut ::salvo_oapi::Operation,
                _arg: &str,
            ) $describe
        }
    };
}
pub(crate) use define_marker as marker;

marker!(
    /// A campaign file: its TOML text, as `application/toml` or `text/plain`.
    CampaignFileBody,
    "CampaignFileBody",
    |_components, operation| {
        let text = || {
            Content::new(Object::with_type(BasicType::String).description(
                "A campaign file (TOML); a `slug` in it must be the path's",
            ))
        };
        operation.request_body = Some(
            RequestBody::new()
                .required(Required::True)
                .add_content("application/toml", text())
                .add_content("text/plain", text()),
        );
    }
);

marker!(
    /// A list's page as `http::page` reads it: `limit` (default 100, at
    /// most [`MAX_PAGE`]) and `offset`.
    PageQuery,
    "PageQuery",
    |_components, operation| {
        let number = |max: u32| {
            Object::with_type(BasicType::Integer)
                .minimum(0)
                .maximum(max)
        };
        for (name, max, description) in [
            ("limit", MAX_PAGE, "Rows per page (default 100)"),
            ("offset", u32::MAX, "Rows to skip"),
        ] {
            operation.parameters.insert(
                Parameter::new(name)
                    .location(ParameterIn::Query)
                    .required(Required::False)
                    .description(description)
                    .schema(number(max)),
            );
        }
    }
);
