//! `flashsale-stores`: private Redis, PostgreSQL and RabbitMQ servers for a
//! topology of real processes (`scripts/topology`), on the recipes the
//! tests use.
//!
//!   flashsale-stores start DIR [--redis-fsync always|everysec]
//!       sets up and starts the three servers in DIR (emptied first), on
//!       free ports, detached; prints shell exports of their URLs
//!       (FLASHSALE_REDIS_URL, FLASHSALE_DATABASE_URL with the database
//!       `flashsale`, FLASHSALE_AMQP_URL) on stdout, progress on stderr.
//!   flashsale-stores stop DIR
//!       stops them cleanly (killing what does not stop in time).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use flashsale_testkit::stores::{Fsync, Options, Stores};
use flashsale_testkit::Error;

const USAGE: &str = "usage: flashsale-stores start DIR [--redis-fsync always|everysec] | stop DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(&args)),
        Err(e) => Err(Error::new(e.to_string())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flashsale-stores: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<(), Error> {
    match args {
        [cmd, dir] if cmd == "start" => start(dir.into(), Fsync::EverySec).await,
        [cmd, dir, flag, fsync] if cmd == "start" && flag == "--redis-fsync" => {
            let fsync = Fsync::parse(fsync)
                .ok_or_else(|| Error::new(format!("--redis-fsync is always or everysec, not '{fsync}'")))?;
            start(dir.into(), fsync).await
        }
        [cmd, dir] if cmd == "stop" => {
            Stores::open(&PathBuf::from(dir))?.shut_down().await;
            eprintln!("stores in {dir} stopped");
            Ok(())
        }
        _ => Err(Error::new(USAGE)),
    }
}

async fn start(dir: PathBuf, fsync: Fsync) -> Result<(), Error> {
    let started = Instant::now();
    let stores = Stores::create(
        &dir,
        Options {
            fsync,
            postgres_fsync_off: false,
            watchdog: false,
        },
    )?;
    eprintln!(
        "starting redis on {} (appendfsync {}), postgres on {}, rabbitmq on {} (node {})",
        stores.redis.port,
        fsync.as_str(),
        stores.postgres.port,
        stores.rabbit.port,
        stores.rabbit.node()
    );
    if let Err(e) = stores.boot().await {
        stores.shut_down().await;
        return Err(e);
    }
    let database = stores.postgres.create_database("flashsale").await?;
    eprintln!("stores up in {:.1} s", started.elapsed().as_secs_f64());
    println!("export FLASHSALE_REDIS_URL={}", stores.redis.url(0));
    println!("export FLASHSALE_DATABASE_URL={database}");
    println!("export FLASHSALE_AMQP_URL={}", stores.rabbit.url());
    Ok(())
}
