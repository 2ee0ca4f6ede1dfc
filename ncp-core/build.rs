//! Compiles proto/national_connector.proto with protox (pure Rust), so no system protoc is
//! needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/national_connector.proto");
    let fds = protox::compile(["national_connector.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
