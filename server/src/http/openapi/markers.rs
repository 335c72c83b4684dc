//! Parts of a request a handler reads itself, described once where
//! `#[endpoint(…)]` cannot say them: a body in more than one media type (the
//! project's own body reader reads it, [`crate::http::body`]) and a list's
//! page (`http::page`). A handler takes the marker as an argument (`_body:
//! CampaignFileBody`), which reads nothing and describes that part.

use std::fmt::Debug;
use std::sync::LazyLock;

use salvo::extract::{Extractible, Metadata};
use salvo::prelude::*;
use salvo_oapi::parameter::{Parameter, ParameterIn};
use salvo_oapi::request_body::RequestBody;
use salvo_oapi::schema::{BasicType, Object};
use salvo_oapi::{Components, Content, EndpointArgRegister, Operation, Required, ToSchema};

use crate::http::MAX_PAGE;

/// A marker that describes a part of the request and reads nothing.
macro_rules! marker {
    ($(#[$doc:meta])* $name:ident, $metadata:literal, |$components:ident, $operation:ident| $describe:block) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl<'ex> Extractible<'ex> for $name {
            fn metadata() -> &'static Metadata {
                static METADATA: LazyLock<Metadata> = LazyLock::new(|| Metadata::new($metadata));
                &METADATA
            }

            async fn extract(
                _req: &'ex mut Request,
                _depot: &'ex mut Depot,
            ) -> Result<Self, impl Writer + Send + Debug + 'static> {
                Ok::<_, StatusError>(Self)
            }
        }

        impl EndpointArgRegister for $name {
            fn register($components: &mut Components, $operation: &mut Operation, _arg: &str) $describe
        }
    };
}

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
    /// A cursor fallback uplink: a JSON sample, or the bincode `Uplink` a
    /// datagram carries (protocol/README.md).
    CursorUplinkBody,
    "CursorUplinkBody",
    |components, operation| {
        operation.request_body = Some(RequestBody::new()
            .required(Required::True)
            .add_content(
                "application/json",
                Content::new(crate::http::cursor::JsonUplink::to_schema(components)),
            )
            .add_content(
                "application/octet-stream",
                Content::new(
                    Object::with_type(BasicType::String)
                        .format(salvo_oapi::schema::SchemaFormat::KnownFormat(
                            salvo_oapi::schema::KnownFormat::Binary,
                        ))
                        .description("A bincode `protocol::Uplink`"),
                ),
            ));
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
