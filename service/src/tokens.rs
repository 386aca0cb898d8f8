//! Submitters and their bearer tokens (stored as sha256, never in clear).

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::Error;
use crate::db::{Db, now_ms};

/// Per-submitter limits, set when the submitter is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Submissions accepted per rolling 24 hours.
    pub per_day: i64,
    /// Submissions queued or running at once.
    pub concurrent: i64,
    /// Largest wasm component accepted, in bytes.
    pub max_wasm_bytes: i64,
}

impl Default for Quota {
    /// 50 a day, 2 at once, 16 MiB of wasm (the default policy itself allows
    /// 64 MiB; a strategy is typically ~100 KiB).
    fn default() -> Self {
        Quota {
            per_day: 50,
            concurrent: 2,
            max_wasm_bytes: 16 << 20,
        }
    }
}

/// A submitter as the API sees it once its token checked out.
#[derive(Clone, Debug)]
pub(crate) struct Submitter {
    pub(crate) name: String,
    pub(crate) quota: Quota,
}

/// The sha256 (hex) under which a token is stored.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks a submitter name: 1 to 64 bytes of `[A-Za-z0-9._-]`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Creates submitter `name` with `quota` (or, when it exists, updates its
/// quota) and returns a new bearer token for it: 32 random bytes, hex.
pub(crate) async fn create_token(db: &Db, name: &str, quota: Quota) -> Result<String, Error> {
    if !valid_name(name) {
        return Err(Error::Invalid(format!(
            "invalid submitter name {name:?}: 1 to 64 characters of A-Z a-z 0-9 . _ -"
        )));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Invalid(format!("the OS random source failed: {e}")))?;
    let token = format!("w2s_{}", hex::encode(bytes));
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO submitters (name, created_ms, max_per_day, max_concurrent, max_wasm_bytes) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET \
         max_per_day = $3, max_concurrent = $4, max_wasm_bytes = $5",
    )
    .bind(name)
    .bind(now)
    .bind(quota.per_day)
    .bind(quota.concurrent)
    .bind(quota.max_wasm_bytes)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO tokens (sha256, submitter, created_ms) VALUES ($1, $2, $3)")
        .bind(token_hash(&token))
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(token)
}

/// The submitter a bearer token belongs to, if any.
pub(crate) async fn authenticate(db: &Db, token: &str) -> Result<Option<Submitter>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT s.name, s.max_per_day, s.max_concurrent, s.max_wasm_bytes \
         FROM tokens t JOIN submitters s ON s.name = t.submitter WHERE t.sha256 = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(Submitter {
            name: r.try_get(0)?,
            quota: Quota {
                per_day: r.try_get(1)?,
                concurrent: r.try_get(2)?,
                max_wasm_bytes: r.try_get(3)?,
            },
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("team-a_1.x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(65)));
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
