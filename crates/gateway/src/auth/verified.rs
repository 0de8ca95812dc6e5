//! Tokens already verified, remembered until they expire.
//!
//! Keyed by the whole token: only a token that passed every check is
//! stored, so a hit is the same bytes that were verified. Entries carry
//! the key set's generation; when the identity provider withdraws a key,
//! the tokens it signed are verified afresh (and refused).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use super::jwt::Verified;

const SHARDS: usize = 16;

/// At most this many tokens per shard; a full shard drops its expired
/// entries, and is emptied if that is not enough.
const PER_SHARD: usize = 8_192;

struct Entry {
    verified: Verified,
    generation: u64,
}

/// A bounded map from token to what it proved, sharded so gateways' worker
/// threads rarely wait on each other.
pub(crate) struct VerifiedTokens {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<Box<str>, Entry>>>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl VerifiedTokens {
    fn shard(&self, token: &str) -> &Mutex<HashMap<Box<str>, Entry>> {
        let index = self.hasher.hash_one(token) as usize % SHARDS;
        &self.shards[index]
    }

    /// What `token` proved, if it was verified under key set `generation`.
    pub fn get(&self, token: &str, generation: u64) -> Option<Verified> {
        let shard = self.shard(token).lock().expect("verified tokens lock");
        shard
            .get(token)
            .filter(|entry| entry.generation == generation)
            .map(|entry| entry.verified.clone())
    }

    pub fn insert(&self, token: &str, verified: Verified, generation: u64) {
        let mut shard = self.shard(token).lock().expect("verified tokens lock");
        if shard.len() >= PER_SHARD {
            let now = chrono::Utc::now().timestamp();
            shard.retain(|_, entry| entry.verified.in_force(now).is_ok());
            if shard.len() >= PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(token.into(), Entry { verified, generation });
    }
}
