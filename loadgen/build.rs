//! Compiles the back-office API (`proto/ovasabi/edge/v1/edge.proto`) into a
//! gRPC client with protox (no `protoc` needed): the soak's feed follower
//! speaks it as any consumer would.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../proto/ovasabi/edge/v1/edge.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["../proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
