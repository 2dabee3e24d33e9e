//! Likely secrets a trace holds. A trace keeps the program's whole
//! environment and every byte it read, and CI environments hold tokens:
//! whoever gets a trace (or a pack of it) can read them. `replay pack` and
//! `replay info` name what looks like one.

use serde::Serialize;
use trace::TraceReader;

use crate::extract::FileUse;
use crate::inputs::NoInputs;
use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Secret {
    /// An environment variable whose name looks like a credential.
    Env { name: String },
    /// A credentials file the program opened or read.
    File { path: String },
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Env { name } => write!(f, "environment variable {name}"),
            Secret::File { path } => write!(f, "file {path}"),
        }
    }
}

/// Whether an environment variable's name looks like a credential's.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "PRIVATE_KEY",
    ]
    .iter()
    .any(|word| upper.contains(word))
        || upper.ends_with("_KEY")
        || upper.ends_with("APIKEY")
}

/// Whether `path` is a credentials file or lies under a directory of them
/// (`home` is the recorded program's home directory).
pub fn is_secret_path(path: &str, home: &str) -> bool {
    let home = home.trim_end_matches('/');
    let under = |dir: &str| {
        path == dir
            || path
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let in_home = |rel: &str| !home.is_empty() && under(&format!("{home}/{rel}"));
    in_home(".ssh")
        || in_home(".aws")
        || in_home(".config/gcloud")
        || in_home(".netrc")
        || in_home(".docker/config.json")
        || in_home(".kube/config")
        || in_home(".gnupg")
        || under("/etc/shadow")
        || under("/etc/gshadow")
        || under("/etc/ssh") && path.rsplit('/').next().is_some_and(|f| f.contains("_key"))
}

/// The likely secrets in `reader`'s trace: credential-like environment
/// variables, then credentials files that were opened, read or mapped
/// (a failed open read nothing).
pub fn likely_secrets(reader: &TraceReader) -> Result<Vec<Secret>> {
    let header = &reader.manifest().header;
    let mut found = env_secrets(header);
    let home = header
        .env
        .iter()
        .find(|(name, _)| name == "HOME")
        .map(|(_, value)| value.as_str())
        .unwrap_or("/root");
    let files = crate::extract::extract(reader, &NoInputs)?.files;
    found.extend(
        files
            .iter()
            .filter(|f| was_read(f) && is_secret_path(&f.path, home))
            .map(|f| Secret::File {
                path: f.path.clone(),
            }),
    );
    Ok(found)
}

/// The credential-like environment variables alone: what the header
/// says, readable even when the events are damaged.
pub fn env_secrets(header: &trace::TraceHeader) -> Vec<Secret> {
    header
        .env
        .iter()
        .filter(|(name, value)| is_secret_name(name) && !value.is_empty())
        .map(|(name, _)| Secret::Env { name: name.clone() })
        .collect()
}

fn was_read(file: &FileUse) -> bool {
    file.ops
        .iter()
        .any(|op| matches!(op.as_str(), "open" | "read" | "mmap"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_and_paths() {
        for name in [
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "api_key",
            "NPM_TOKEN",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["PATH", "HOME", "KEYBOARD", "TERM", "SSH_AUTH_SOCK"] {
            assert!(!is_secret_name(name), "{name}");
        }
        let home = "/home/u";
        for path in [
            "/home/u/.ssh/id_ed25519",
            "/home/u/.aws/credentials",
            "/home/u/.config/gcloud/application_default_credentials.json",
            "/home/u/.netrc",
            "/etc/shadow",
            "/etc/ssh/ssh_host_ed25519_key",
        ] {
            assert!(is_secret_path(path, home), "{path}");
        }
        for path in [
            "/home/u/.sshx",
            "/etc/passwd",
            "/etc/ssh/ssh_config",
            "/home/v/.ssh/id_rsa",
        ] {
            assert!(!is_secret_path(path, home), "{path}");
        }
    }
}
