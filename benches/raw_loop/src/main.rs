//! `raw-loop BASE_URL WORKSPACE ITEM [ROUNDS]`: pages through one listing with the core's
//! `Pager::next_raw_page` (HTTP, envelope scan, continuation), parsing no items, 5 rounds,
//! printing wall and CPU time per round. Compare with the bytes-only http.client loop.

use fabric_jobs::core::auth::StaticToken;
use fabric_jobs::core::observe::Silent;
use fabric_jobs::core::secret::Secret;
use fabric_jobs::core::{Client, ClientConfig};
use std::sync::Arc;
use std::time::Instant;

fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base_url, workspace, item, ..] = args.as_slice() else {
        return Err("usage: raw-loop BASE_URL WORKSPACE ITEM [ROUNDS]".into());
    };
    let rounds: usize = args.get(4).map(|r| r.parse()).transpose()?.unwrap_or(5);
    let runtime = fabric_jobs::core::runtime::runtime()?;
    let mut config = ClientConfig::new(base_url)?;
    config.rate_limit = None;
    let token = Arc::new(StaticToken(Secret::new("bench-token")));
    let client = Client::new(config, token, Arc::new(Silent))?;
    for round in 0..rounds {
        let mut pager = client.list_item_job_instances(workspace, item, None)?;
        let (started, cpu) = (Instant::now(), process_cpu_seconds());
        let pages = runtime.block_on(async {
            let mut pages = 0usize;
            while pager.next_raw_page().await?.is_some() {
                pages += 1;
            }
            Ok::<_, fabric_jobs::core::Error>(pages)
        })?;
        println!(
            "round {round}: {pages} pages in {:.3} s, CPU {:.2} s",
            started.elapsed().as_secs_f64(),
            process_cpu_seconds() - cpu
        );
    }
    Ok(())
}
