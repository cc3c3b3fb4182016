//! Credentials for Prometheus: a bearer token or basic auth, fixed (a policy's Secret) or
//! read from files that are re-read when a mounted Secret rotates.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use reqwest::header::HeaderValue;

use super::MetricError;

/// Credentials for a policy's own Prometheus (`spec.prometheus.authSecretRef`).
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
        }
    }
}

/// A secret kept in a file, re-read when the file's modification time or size changes
/// (a rotated Kubernetes Secret volume).
pub(super) struct SecretFile {
    path: PathBuf,
    flag: &'static str,
    cached: Mutex<Option<(Option<SystemTime>, u64, String)>>,
}

impl SecretFile {
    pub(super) fn new(path: &Path, flag: &'static str) -> Result<Self, MetricError> {
        let file = Self {
            path: path.to_path_buf(),
            flag,
            cached: Mutex::new(None),
        };
        file.read()?;
        Ok(file)
    }

    fn read(&self) -> Result<String, MetricError> {
        let fail = |e: std::io::Error| {
            MetricError::Config(format!(
                "cannot read {} {}: {e}",
                self.flag,
                self.path.display()
            ))
        };
        let meta = std::fs::metadata(&self.path).map_err(fail)?;
        let stamp = (meta.modified().ok(), meta.len());
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((modified, len, text)) = cached.as_ref()
            && (*modified, *len) == stamp
        {
            return Ok(text.clone());
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(fail)?
            .trim()
            .to_string();
        if text.is_empty() {
            return Err(MetricError::Config(format!(
                "{} {} is empty",
                self.flag,
                self.path.display()
            )));
        }
        *cached = Some((stamp.0, stamp.1, text.clone()));
        Ok(text)
    }
}

/// What a request authenticates with.
pub(super) enum Credentials {
    None,
    Fixed(HeaderValue),
    BearerFile(SecretFile),
    BasicFile {
        username: String,
        password: SecretFile,
    },
}

impl Credentials {
    /// Credentials for a policy's own Prometheus.
    pub(super) fn from_auth(auth: Option<Auth>) -> Result<Self, MetricError> {
        Ok(match auth {
            None => Credentials::None,
            Some(Auth::Bearer(token)) => Credentials::Fixed(bearer(token.trim())?),
            Some(Auth::Basic { username, password }) => {
                Credentials::Fixed(basic(&username, &password)?)
            }
        })
    }

    /// The `Authorization` header to send, read afresh from a rotated file.
    pub(super) fn header(&self) -> Result<Option<HeaderValue>, MetricError> {
        let value = match self {
            Credentials::None => return Ok(None),
            Credentials::Fixed(v) => return Ok(Some(v.clone())),
            Credentials::BearerFile(file) => bearer(&file.read()?),
            Credentials::BasicFile { username, password } => basic(username, &password.read()?),
        };
        value.map(Some)
    }
}

fn sensitive(text: &str, what: &str) -> Result<HeaderValue, MetricError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        MetricError::Config(format!(
            "the {what} holds characters not allowed in an HTTP header (a line break inside it?)"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

pub(super) fn bearer(token: &str) -> Result<HeaderValue, MetricError> {
    sensitive(&format!("Bearer {token}"), "bearer token")
}

pub(super) fn basic(username: &str, password: &str) -> Result<HeaderValue, MetricError> {
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    sensitive(
        &format!("Basic {encoded}"),
        "basic-auth user name or password",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_standard_base64() {
        let header = basic("Aladdin", "open sesame").unwrap();
        assert_eq!(
            header.to_str().unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(header.is_sensitive(), "kept out of logs");
    }

    #[test]
    fn a_rotated_token_file_is_read_again() {
        let dir = std::env::temp_dir().join(format!("prescaler-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first\n").unwrap();
        let credentials = Credentials::BearerFile(
            SecretFile::new(&path, "--prometheus-bearer-token-file").unwrap(),
        );
        let value = |c: &Credentials| c.header().unwrap().unwrap().to_str().unwrap().to_string();
        assert_eq!(value(&credentials), "Bearer first");
        std::fs::write(&path, "second-and-longer\n").unwrap();
        assert_eq!(value(&credentials), "Bearer second-and-longer");
        std::fs::remove_file(&path).unwrap();
        let err = credentials.header().unwrap_err();
        assert!(
            err.to_string().contains("--prometheus-bearer-token-file"),
            "{err}"
        );
    }

    #[test]
    fn auth_debug_hides_secrets() {
        let shown = format!(
            "{:?} {:?}",
            Auth::Bearer("s3cret".into()),
            Auth::Basic {
                username: "u".into(),
                password: "pw-s3cret".into()
            }
        );
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
