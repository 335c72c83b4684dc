//! Compiles the back-office API (`proto/ovasabi/edge/v1/edge.proto`) with
//! protox, a protobuf compiler in Rust, so that a fresh machine needs no
//! `protoc`; tonic and prost generate the server, the client (for tests and
//! Rust consumers) and the descriptor set that gRPC reflection serves.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
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
