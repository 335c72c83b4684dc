//! Request bodies a handler reads itself (with [`crate::http::body`]) in
//! more than one media type, which `#[endpoint(request_body = …)]` cannot
//! say: a handler takes the body's marker as an argument (`_body:
//! CampaignFileBody`), which reads nothing and describes the body.

use std::fmt::Debug;
use std::sync::LazyLock;

use salvo::extract::{Extractible, Metadata};
use salvo::prelude::*;
use salvo_oapi::request_body::RequestBody;
use salvo_oapi::schema::{BasicType, Object};
use salvo_oapi::{Components, Content, EndpointArgRegister, Operation, Required, ToSchema};

/// A marker that describes a body and reads nothing.
macro_rules! described_body {
    ($(#[$doc:meta])* $name:ident, $metadata:literal, |$components:ident| $body:expr) => {
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
            fn register($components: &mut Components, operation: &mut Operation, _arg: &str) {
                operation.request_body = Some($body);
            }
        }
    };
}

described_body!(
    /// A campaign file: its TOML text, as `application/toml` or `text/plain`.
    CampaignFileBody,
    "CampaignFileBody",
    |_components| {
        let text = || {
            Content::new(Object::with_type(BasicType::String).description(
                "A campaign file (TOML); a `slug` in it must be the path's",
            ))
        };
        RequestBody::new()
            .required(Required::True)
            .add_content("application/toml", text())
            .add_content("text/plain", text())
    }
);

described_body!(
    /// A cursor fallback uplink: a JSON sample, or the bincode `Uplink` a
    /// datagram carries (protocol/README.md).
    CursorUplinkBody,
    "CursorUplinkBody",
    |components| {
        RequestBody::new()
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
            )
    }
);
