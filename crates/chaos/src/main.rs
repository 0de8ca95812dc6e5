//! `flashsale-chaos`: runs chaos scenarios against the `flashsale` binary
//! on private stores and prints the table.
//!
//! ```text
//! flashsale-chaos [--bin PATH] [--scale small|full] [--seed N] [SCENARIO...]
//! ```
//!
//! Without scenarios, runs them all. `--bin` defaults to the `flashsale`
//! next to this executable. Exits non-zero if any invariant failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use flashsale_chaos::scenario::{self, Config, Scale, Scenario};
use flashsale_testkit::stores::{Fsync, Stores};

fn usage() -> String {
    let names = |list: &[Scenario]| list.iter().map(|s| s.name()).collect::<Vec<_>>().join(" ");
    format!(
        "usage: flashsale-chaos [--bin PATH] [--scale small|full] [--seed N] [SCENARIO...]\nscenarios (all by default): {}\non demand only: {}",
        names(&Scenario::ALL),
        names(&Scenario::ON_DEMAND)
    )
}

fn main() -> ExitCode {
    let mut bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("flashsale")))
        .unwrap_or_else(|| PathBuf::from("flashsale"));
    let mut scale = Scale::full();
    let mut seed = None;
    let mut scenarios = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bin" => bin = args.next().map(PathBuf::from).unwrap_or(bin),
            "--scale" => match args.next().as_deref() {
                Some("small") => scale = Scale::small(),
                Some("full") => scale = Scale::full(),
                _ => {
                    eprintln!("{}", usage());
                    return ExitCode::from(2);
                }
            },
            "--seed" => seed = args.next().and_then(|s| s.parse::<u64>().ok()),
            "-h" | "--help" => {
                println!("{}", usage());
                return ExitCode::SUCCESS;
            }
            name => match Scenario::parse(name) {
                Some(s) => scenarios.push(s),
                None => {
                    eprintln!("unknown scenario {name}\n{}", usage());
                    return ExitCode::from(2);
                }
            },
        }
    }
    if scenarios.is_empty() {
        scenarios = Scenario::ALL.to_vec();
    }
    if !bin.exists() {
        eprintln!("flashsale-chaos: no flashsale binary at {}", bin.display());
        return ExitCode::from(2);
    }
    let mut config = Config::new(bin, scale);
    if let Some(seed) = seed {
        config.seed = seed;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flashsale-chaos: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let rows = runtime.block_on(async {
        let stores = match Stores::start(Fsync::Always).await {
            Ok(stores) => stores,
            Err(e) => {
                eprintln!("flashsale-chaos: cannot start the stores: {e}");
                return None;
            }
        };
        let rows = scenario::run_all(&scenarios, &stores, &config).await;
        stores.stop().await;
        Some(rows)
    });
    let Some(rows) = rows else {
        return ExitCode::FAILURE;
    };
    let s = &config.scale;
    println!(
        "\nChaos suite: {} scenarios in {:.0} s; each a sale of {} units, limit {} per buyer, {} purchases by {} buyers at {}/s over 2 gateways and 2 inventories; settle bound {} s.\n",
        rows.len(),
        started.elapsed().as_secs_f64(),
        s.stock,
        s.limit,
        s.purchases,
        s.users,
        s.rate,
        config.settle_bound.as_secs()
    );
    for sc in &scenarios {
        println!("- {}: {}", sc.name(), sc.describe());
    }
    println!();
    print!("{}", flashsale_chaos::report::table(&rows));
    if rows.iter().all(|r| r.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
