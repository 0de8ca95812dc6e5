//! The admin token and the JWT secret: given by the operator, or generated
//! once and kept in the data folder (mode 0600) so a restart keeps them and
//! issued tokens stay valid.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::settings::Settings;

/// Where a secret came from; a generated one is shown at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Given,
    Stored,
    Generated,
}

/// A secret and where it came from.
#[derive(Clone)]
pub struct Secret {
    pub value: String,
    pub origin: Origin,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<redacted>, {:?})", self.origin)
    }
}

/// Why a secret could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is empty; delete it to generate a new secret")]
    Empty { path: PathBuf },
    #[error("no random source: {0}")]
    Random(String),
    #[error(
        "the JWT secret is {0} bytes long; HS256 needs at least 32 random bytes (FLASHSALE_JWT_SECRET, or delete the stored one to generate a new one)"
    )]
    WeakJwtSecret(usize),
    #[error(
        "FLASHSALE_SERVICE_TOKEN is the admin token: the internal API would open to every dashboard user; give it a secret of its own"
    )]
    ServiceTokenIsAdmin,
}

/// 32 random bytes, hex: 256 bits.
pub fn random_token() -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads `data_dir/name` if it exists.
pub fn read_stored(data_dir: &Path, name: &str) -> Result<Option<String>, SecretError> {
    let path = data_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(value) if value.trim().is_empty() => Err(SecretError::Empty { path }),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecretError::Io { path, source }),
    }
}

/// The given secret, else the stored one, else a new one, stored.
pub fn resolve(given: Option<&str>, data_dir: &Path, name: &str) -> Result<Secret, SecretError> {
    if let Some(value) = given.filter(|v| !v.is_empty()) {
        return Ok(Secret {
            value: value.to_owned(),
            origin: Origin::Given,
        });
    }
    if let Some(value) = read_stored(data_dir, name)? {
        return Ok(Secret {
            value,
            origin: Origin::Stored,
        });
    }
    let value = random_token()?;
    let path = data_dir.join(name);
    let io = |source| SecretError::Io {
        path: path.clone(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(&path) {
        Ok(file) => file,
        // Another process on this folder generated it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let value =
                read_stored(data_dir, name)?.ok_or_else(|| SecretError::Empty { path: path.clone() })?;
            return Ok(Secret {
                value,
                origin: Origin::Stored,
            });
        }
        Err(e) => return Err(io(e)),
    };
    file.write_all(value.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(io)?;
    Ok(Secret {
        value,
        origin: Origin::Generated,
    })
}

/// The file in the data folder that keeps a generated admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin_token";
/// The file in the data folder that keeps a generated JWT secret.
pub const JWT_SECRET_FILE: &str = "jwt_secret";

/// The admin token and the JWT secret: given, or kept in the data folder.
pub fn secrets(settings: &Settings) -> Result<(Secret, Secret), SecretError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| SecretError::Io {
        path: settings.data_dir.clone(),
        source,
    })?;
    let admin = resolve(
        settings.admin_token.as_deref(),
        &settings.data_dir,
        ADMIN_TOKEN_FILE,
    )?;
    let jwt = resolve(
        settings.jwt_secret.as_deref(),
        &settings.data_dir,
        JWT_SECRET_FILE,
    )?;
    if jwt.value.len() < flashsale_gateway::auth::jwt::MIN_SECRET_LEN {
        return Err(SecretError::WeakJwtSecret(jwt.value.len()));
    }
    Ok((admin, jwt))
}

/// The services' internal credential: given, or derived from the admin
/// token and the JWT secret (see [`Settings::service_token`]).
pub fn service_token(settings: &Settings, admin: &Secret, jwt: &Secret) -> Result<String, SecretError> {
    match settings.service_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) if flashsale_gateway::auth::same_secret(token, &admin.value) => {
            Err(SecretError::ServiceTokenIsAdmin)
        }
        Some(token) => Ok(token.to_owned()),
        None => Ok(flashsale_gateway::auth::derived_service_token(
            &admin.value,
            &jwt.value,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_kept() {
        let dir = std::env::temp_dir().join(format!("flashsale-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = resolve(None, &dir, "admin_token").unwrap();
        assert_eq!(first.origin, Origin::Generated);
        assert_eq!(first.value.len(), 64);
        let again = resolve(None, &dir, "admin_token").unwrap();
        assert_eq!((again.origin, again.value), (Origin::Stored, first.value));
        let given = resolve(Some("operator-chosen"), &dir, "admin_token").unwrap();
        assert_eq!(given.origin, Origin::Given);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("admin_token"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
