//! Starts the simulators and prints their endpoints until Ctrl-C (a quick manual sandbox).
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sims = sweden_sim::start(sweden_sim::SimConfig::default()).await?;
    for (name, url) in sims.endpoints() {
        println!("{name:<32} {url}");
    }
    tokio::signal::ctrl_c().await?;
    sims.shutdown().await;
    Ok(())
}
