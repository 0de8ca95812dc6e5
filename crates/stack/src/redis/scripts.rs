//! The Lua scripts, loaded once per process and run with EVALSHA (the
//! client reloads a script when Redis answers NOSCRIPT, e.g. after a
//! restart). Each starts with a `#!lua` shebang, so Redis refuses a writing
//! script as a whole when it is out of memory instead of failing it after
//! its first write: a script has no rollback.

use std::sync::{Arc, OnceLock};

use redis::Script;

/// Every script, compiled once.
pub struct Scripts {
    pub reserve: Script,
    pub release: Script,
    pub give_back: Script,
    pub settle: Script,
    pub load: Script,
    pub transition: Script,
    pub adjust: Script,
    pub level: Script,
    pub fence: Script,
    pub rebuild: Script,
    pub forget: Script,
    pub draw_enter: Script,
    pub draw_close: Script,
    pub draw_record: Script,
    pub draw_status: Script,
    pub transfer_debit: Script,
    pub transfer_credit: Script,
    pub place_look: Script,
    pub spread: Script,
}

const COMMON: &str = include_str!("lua/common.lua");

/// The shebang line, then the shared helpers, then the body.
fn compose(source: &str) -> Script {
    let (shebang, body) = source.split_once('\n').unwrap_or((source, ""));
    Script::new(&format!("{shebang}\n{COMMON}\n{body}"))
}

/// The scripts, shared by every store of the process.
pub fn scripts() -> Arc<Scripts> {
    static SCRIPTS: OnceLock<Arc<Scripts>> = OnceLock::new();
    SCRIPTS
        .get_or_init(|| {
            Arc::new(Scripts {
                reserve: compose(include_str!("lua/reserve.lua")),
                release: compose(include_str!("lua/release.lua")),
                give_back: compose(include_str!("lua/give_back.lua")),
                settle: compose(include_str!("lua/settle.lua")),
                load: compose(include_str!("lua/load.lua")),
                transition: compose(include_str!("lua/transition.lua")),
                adjust: compose(include_str!("lua/adjust.lua")),
                level: compose(include_str!("lua/level.lua")),
                fence: compose(include_str!("lua/fence.lua")),
                rebuild: compose(include_str!("lua/rebuild.lua")),
                forget: compose(include_str!("lua/forget.lua")),
                draw_enter: compose(include_str!("lua/draw_enter.lua")),
                draw_close: compose(include_str!("lua/draw_close.lua")),
                draw_record: compose(include_str!("lua/draw_record.lua")),
                draw_status: compose(include_str!("lua/draw_status.lua")),
                transfer_debit: compose(include_str!("lua/transfer_debit.lua")),
                transfer_credit: compose(include_str!("lua/transfer_credit.lua")),
                place_look: compose(include_str!("lua/place_look.lua")),
                spread: compose(include_str!("lua/spread.lua")),
            })
        })
        .clone()
}
