//! Compiles the back-office API (`proto/ovasabi/edge/v1/edge.proto`) with
//! protox, a protobuf compiler in Rust, so that a fresh machine needs no
//! `protoc`; tonic and prost generate the server, the client (for tests and
//! Rust consumers) and the descriptor set that gRPC reflection serves.
//!
//! Also reads the browser client's version from `web-client/package.json`
//! (`OVASABI_CLIENT_VERSION`): the server serves the client at
//! `/client/v{version}/`, so the package and the URL cannot disagree.

use prost::Message;

/// The `"version"` of a package.json: digits, dots and a pre-release tag only.
fn package_version(json: &str) -> Option<String> {
    let after = &json[json.find("\"version\"")? + "\"version\"".len()..];
    let value = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let version = &value[..value.find('"')?];
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    (!version.is_empty() && version.chars().all(plain)).then(|| version.to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let package = "../web-client/package.json";
    println!("cargo:rerun-if-changed={package}");
    let version = package_version(&std::fs::read_to_string(package)?)
        .ok_or("web-client/package.json has no plain \"version\"")?;
    println!("cargo:rustc-env=OVASABI_CLIENT_VERSION={version}");
    let proto = "../proto/ovasabi/edge/v1/edge.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["../proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("edge_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
