//! `flashsale`: the engine's one binary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flashsale::secrets::Origin;
use flashsale::services::{Kind, ServiceProcess};
use flashsale::{Engine, Settings};

/// mimalloc instead of glibc's malloc: on the real stack's selling path
/// glibc's malloc and free were a fifth of the engine's CPU (`perf`,
/// scripts/bench/profile.sh stack); mimalloc's thread-local free lists
/// make them a fraction of that (README, Benchmarks).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "flashsale",
    version,
    about = "Sells every unit exactly once, to verified buyers, within their limit."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the whole engine in one process (embedded mode unless the store URLs are set).
    Up(Settings),
    /// Runs the gateway of the production topology (public API over the service processes).
    Gateway(Settings),
    /// Runs the product service (sales, schedule; PostgreSQL and Redis).
    Product(Settings),
    /// Runs the inventory service (the purchase path and the outbox relay; Redis and RabbitMQ).
    Inventory(Settings),
    /// Runs the order service (the consumer and order status; RabbitMQ, PostgreSQL, Redis).
    Order(Settings),
    /// Prints a buyer JWT for USER.
    Token {
        /// The buyer id (the token's `sub`).
        user: String,
        /// Validity: seconds, or a number with s, m, h or d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The engine's JWT secret; defaults to the one kept in the data folder.
        #[arg(long, env = "FLASHSALE_JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
        #[arg(long, env = "FLASHSALE_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The issuer, audience and longest lifetime the engine requires.
        #[command(flatten)]
        jwt: flashsale::settings::JwtSettings,
        /// Print the shop page's link that signs this buyer in, instead of the bare token.
        #[arg(long)]
        shop_url: bool,
        /// The engine's address, for --shop-url.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        target: String,
    },
    /// Prints the dashboard's URL with the admin token in its fragment (the
    /// token is printed at start only when it is generated).
    AdminUrl {
        #[arg(long, env = "FLASHSALE_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The engine's address.
        #[arg(long, env = "FLASHSALE_BIND", default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        #[arg(long, env = "FLASHSALE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// Pays an order as a payment provider would: a signed webhook to the engine (demos, scripts, tests).
    Pay(flashsale::pay::PayArgs),
    /// Prints the HTTP API's OpenAPI document (what `/api/openapi.json` serves).
    Openapi,
    /// Load generators that measure the engine and verify its invariants.
    #[command(subcommand)]
    Bench(Bench),
    /// Applies pending migrations: PostgreSQL's when FLASHSALE_DATABASE_URL is set, else the embedded database's.
    Migrate {
        #[arg(long, env = "FLASHSALE_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long, env = "FLASHSALE_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum Bench {
    /// A stampede against running gateways, then every invariant checked through the API.
    Stampede(flashsale_bench::StampedeArgs),
    /// The race-condition lab: six ways of keeping stock, one contended workload, one table.
    Race(flashsale_bench::race::RaceArgs),
    /// A burst on the engine as it is, then again after many sales were made, ended and archived.
    History(flashsale_bench::history::HistoryArgs),
    /// Many buyers' pages watching one sale's live feed: the engine's memory and CPU, idle and watched.
    Watchers(flashsale_bench::watchers::WatchersArgs),
    /// What verifying a buyer token costs: HS256, RS256, ES256, first time and remembered.
    Tokens(flashsale_bench::tokens::TokensArgs),
    /// Who wins a sale's opening second: buyers firing at the start against buyers 0-500 ms later.
    Fairness(flashsale_bench::fairness::FairnessArgs),
    /// A fair start's draw with many entrants: the engine's memory while they wait, and the time to answer them all.
    Draw(flashsale_bench::draw::DrawArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(settings) => {
            flashsale::logs::init(&settings.log_format);
            run_engine(settings, false)
        }
        Command::Gateway(settings) => {
            flashsale::logs::init(&settings.log_format);
            run_engine(settings, true)
        }
        Command::Product(settings) => run_service(Kind::Product, settings),
        Command::Inventory(settings) => run_service(Kind::Inventory, settings),
        Command::Order(settings) => run_service(Kind::Order, settings),
        Command::Token {
            user,
            ttl,
            jwt_secret,
            data_dir,
            jwt,
            shop_url,
            target,
        } => flashsale::token::parse_ttl(&ttl)
            .and_then(|ttl| flashsale::token::mint(&user, ttl, jwt_secret.as_deref(), &data_dir, &jwt))
            .map(|token| match shop_url {
                true => println!("{}", flashsale::token::shop_url(&target, &token)),
                false => println!("{token}"),
            })
            .map_err(|e| e.to_string()),
        Command::AdminUrl {
            data_dir,
            bind,
            admin_token,
        } => admin_url(&data_dir, bind, admin_token.as_deref()),
        Command::Pay(args) => runtime().and_then(|rt| {
            rt.block_on(flashsale::pay::pay(&args))
                .map(|answer| println!("{answer}"))
        }),
        Command::Openapi => {
            println!("{}", flashsale_gateway::openapi::document());
            Ok(())
        }
        Command::Bench(Bench::Stampede(args)) => return run_stampede(args),
        Command::Bench(Bench::Race(args)) => runtime().and_then(|rt| {
            rt.block_on(flashsale_bench::race::run(&args))
                .map(|rows| print!("{}", flashsale_bench::race::table(&rows, &args)))
                .map_err(|e| e.to_string())
        }),
        Command::Bench(Bench::History(args)) => {
            return match runtime().and_then(|rt| {
                rt.block_on(flashsale_bench::history::run(&args))
                    .map_err(|e| e.to_string())
            }) {
                Ok(report) => {
                    print!("{}", report.table());
                    if report.passed() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("flashsale: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench(Bench::Fairness(args)) => runtime().and_then(|rt| {
            rt.block_on(flashsale_bench::fairness::run(&args))
                .map(|report| print!("{}", report.table()))
                .map_err(|e| e.to_string())
        }),
        Command::Bench(Bench::Draw(args)) => runtime().and_then(|rt| {
            rt.block_on(flashsale_bench::draw::run(&args))
                .map(|out| print!("{out}"))
                .map_err(|e| e.to_string())
        }),
        Command::Bench(Bench::Watchers(args)) => runtime().and_then(|rt| {
            rt.block_on(flashsale_bench::watchers::run(&args))
                .map(|report| print!("{}", report.table()))
                .map_err(|e| e.to_string())
        }),
        Command::Bench(Bench::Tokens(args)) => runtime().and_then(|rt| {
            rt.block_on(flashsale_bench::tokens::run(&args))
                .map(|costs| print!("{}", flashsale_bench::tokens::table(&costs, &args)))
                .map_err(|e| e.to_string())
        }),
        Command::Migrate {
            data_dir,
            database_url,
        } => migrate(&data_dir, database_url.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("flashsale: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the report; the exit status says whether every invariant held.
fn run_stampede(args: flashsale_bench::StampedeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flashsale: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(flashsale_bench::run(args)) {
        Ok(report) => {
            print!("{}", report.table());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                eprintln!("flashsale: an invariant failed (see above)");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("flashsale: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `flashsale admin-url`: the given token, else the one kept in the folder.
fn admin_url(
    data_dir: &std::path::Path,
    bind: std::net::SocketAddr,
    given: Option<&str>,
) -> Result<(), String> {
    let token = match given.filter(|t| !t.is_empty()) {
        Some(token) => token.to_owned(),
        None => flashsale::secrets::read_stored(data_dir, flashsale::secrets::ADMIN_TOKEN_FILE)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "no admin token in {}: start the engine once with this data folder, or set FLASHSALE_ADMIN_TOKEN",
                    data_dir.display()
                )
            })?,
    };
    println!("http://{bind}/#admin_token={token}");
    Ok(())
}

/// `flashsale migrate`: reports each migration applied.
fn migrate(data_dir: &std::path::Path, database_url: Option<&str>) -> Result<(), String> {
    let (applied, place) = match database_url {
        Some(url) => (
            runtime()?
                .block_on(flashsale::assembly::stack::postgres_migrations(url))
                .map_err(|e| e.to_string())?,
            "PostgreSQL".to_owned(),
        ),
        None => (
            flashsale_embedded::database::migrate_dir(data_dir).map_err(|e| e.to_string())?,
            format!("the embedded database in {}", data_dir.display()),
        ),
    };
    if applied.is_empty() {
        println!("{place}: up to date.");
    }
    for name in applied {
        println!("Applied migration {name} to {place}.");
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    flashsale::open_files::raise_limit();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// `up` (every service here) or `gateway` (clients of the service processes).
fn run_engine(settings: Settings, gateway_only: bool) -> Result<(), String> {
    runtime()?.block_on(async {
        let service = if gateway_only {
            "flashsale-gateway"
        } else {
            "flashsale"
        };
        let traces = flashsale_trace::install(service).map_err(|e| e.to_string())?;
        let engine = if gateway_only {
            Engine::gateway(&settings).await
        } else {
            Engine::start(&settings).await
        }
        .map_err(|e| e.to_string())?;
        print_banner(&engine, &settings);
        print_traces(traces.as_ref());
        let stopped = engine.run_until_stopped(shutdown_signal()).await;
        if let Some(traces) = traces {
            traces.shutdown().await;
        }
        stopped.map_err(|e| e.to_string())?;
        println!("FlashSale stopped: every answered order is committed or handed on.");
        Ok(())
    })
}

/// `product`, `inventory` or `order`.
fn run_service(kind: Kind, settings: Settings) -> Result<(), String> {
    flashsale::logs::init(&settings.log_format);
    runtime()?.block_on(async {
        let name = format!("flashsale-{}", format!("{kind:?}").to_lowercase());
        let traces = flashsale_trace::install(&name).map_err(|e| e.to_string())?;
        let service = ServiceProcess::start(kind, &settings)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "FlashSale {kind:?} service listening on http://{}",
            service.local_addr()
        );
        for line in service.summary() {
            println!("  {line}");
        }
        print_traces(traces.as_ref());
        let stopped = service.run_until_stopped(shutdown_signal()).await;
        if let Some(traces) = traces {
            traces.shutdown().await;
        }
        stopped.map_err(|e| e.to_string())?;
        println!("FlashSale {kind:?} service stopped.");
        Ok(())
    })
}

/// Where traces go, in the start-up banner.
fn print_traces(traces: Option<&flashsale_trace::Traces>) {
    match traces {
        Some(traces) => println!("  traces: {}", traces.describe()),
        None => println!("  traces: off (set OTEL_EXPORTER_OTLP_ENDPOINT to export them)"),
    }
}

/// The start-up banner, on stdout (not the log): the address, and the
/// dashboard URL with the admin token in the fragment, which browsers never
/// send to the server.
fn print_banner(engine: &Engine, settings: &Settings) {
    let addr = engine.local_addr();
    println!("FlashSale listening on http://{addr}");
    for line in engine.summary() {
        println!("  {line}");
    }
    // The token itself is printed once, when it is generated: logs are
    // kept and shipped, and a token in them is a token for anyone.
    let kept = settings.data_dir.join(flashsale::secrets::ADMIN_TOKEN_FILE);
    match engine.admin_token().origin {
        Origin::Given => println!("  dashboard: http://{addr}/ (sign in with FLASHSALE_ADMIN_TOKEN)"),
        Origin::Generated => {
            println!(
                "  dashboard: http://{addr}/#admin_token={}",
                engine.admin_token().value
            );
            println!("  admin token generated, kept in {}", kept.display());
        }
        Origin::Stored => {
            println!(
                "  dashboard: http://{addr}/ (sign in with the admin token kept in {})",
                kept.display()
            );
            println!(
                "  dashboard URL with the token: flashsale admin-url --data-dir {} --bind {addr}",
                settings.data_dir.display()
            );
        }
    }
    if engine.jwt_secret().origin == Origin::Generated {
        println!(
            "  JWT secret generated, kept in {}",
            settings
                .data_dir
                .join(flashsale::secrets::JWT_SECRET_FILE)
                .display()
        );
    }
    println!(
        "  buyer token: flashsale token <user> --data-dir {}",
        settings.data_dir.display()
    );
    if !settings.wants_stack() {
        // A demo buyer, for an hour: embedded mode is for trying it out.
        let demo = flashsale::token::mint(
            "demo-buyer",
            std::time::Duration::from_secs(3600),
            Some(&engine.jwt_secret().value),
            &settings.data_dir,
            &settings.jwt,
        );
        if let Ok(token) = demo {
            println!(
                "  shop (demo buyer, 1 h): {}",
                flashsale::token::shop_url(&format!("http://{addr}"), &token)
            );
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!(message = "Shutting down: no new purchases; committing what was answered.");
}
