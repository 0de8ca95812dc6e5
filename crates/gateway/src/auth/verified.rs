//! Public-key tokens already verified, remembered until they expire.
//!
//! An RS256 check costs ~26 µs and an ES256 check ~90 µs (`flashsale bench
//! tokens`), a hash lookup well under one, and a buyer in a stampede sends
//! the same token again and again. HS256 tokens are not remembered: their
//! check costs about what remembering them would.
//!
//! An entry is found by a keyed hash of the whole token (the key is random
//! per process, so no one can aim at a collision) and must hold the same
//! signature, so a hit is the token that was verified. Only a token that
//! passed every check is stored. Entries carry the key set's generation;
//! when the identity provider withdraws a key, the tokens it signed are
//! verified afresh (and refused).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use super::jwt::Verified;

const SHARDS: usize = 16;

/// At most this many tokens per shard; a full shard drops its expired
/// entries, and is emptied if that is not enough.
const PER_SHARD: usize = 4_096;

struct Entry {
    signature: Box<str>,
    verified: Verified,
    generation: u64,
}

/// A bounded map from token to what it proved, sharded so gateways' worker
/// threads rarely wait on each other.
pub(crate) struct VerifiedTokens {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<u64, Entry>>>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

fn signature(token: &str) -> &str {
    token.rsplit_once('.').map_or("", |(_, signature)| signature)
}

impl VerifiedTokens {
    fn slot(&self, token: &str) -> (&Mutex<HashMap<u64, Entry>>, u64) {
        let hash = self.hasher.hash_one(token);
        (&self.shards[hash as usize % SHARDS], hash)
    }

    /// What `token` proved, if it was verified under key set `generation`.
    pub fn get(&self, token: &str, generation: u64) -> Option<Verified> {
        let (shard, hash) = self.slot(token);
        let shard = shard.lock().expect("verified tokens lock");
        shard
            .get(&hash)
            .filter(|entry| entry.generation == generation && *entry.signature == *signature(token))
            .map(|entry| entry.verified.clone())
    }

    pub fn insert(&self, token: &str, verified: Verified, generation: u64) {
        let (shard, hash) = self.slot(token);
        let mut shard = shard.lock().expect("verified tokens lock");
        if shard.len() >= PER_SHARD {
            let now = chrono::Utc::now().timestamp();
            shard.retain(|_, entry| entry.verified.in_force(now).is_ok());
            if shard.len() >= PER_SHARD {
                shard.clear();
            }
        }
        let entry = Entry {
            signature: signature(token).into(),
            verified,
            generation,
        };
        shard.insert(hash, entry);
    }
}
