//! Every setting Paisa reads, documented once. Each flag mirrors an
//! environment variable (`paisa --help` lists them); the site address and
//! asset folder come from Leptos's own `LEPTOS_*` variables.

use axum::http::HeaderValue;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Streams one instance holds unless `MAX_LIVE_STREAMS` says otherwise:
/// half of the connections it accepts, so pages and the API keep the rest.
pub const DEFAULT_MAX_STREAMS: usize = 2048;
/// Users whose names an instance keeps for search unless
/// `SEARCH_MEMORY_MAX_USERS` says otherwise (~90 MB).
pub const DEFAULT_SEARCH_MEMORY_MAX_USERS: usize = 1_000_000;

/// How many connections the instance holds, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// The most connections open at once; more are closed as they arrive.
    pub total: usize,
    /// The most from one address (none: every client comes through our own
    /// proxy, whose address they all share).
    pub per_address: Option<usize>,
    /// How long a client may take to send its first request head; with
    /// HTTP/1 also each later one, and how long an idle connection is kept.
    pub head: Duration,
    /// How long an HTTP/2 connection with no request in flight is kept.
    pub idle: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            total: 4096,
            per_address: Some(256),
            head: Duration::from_secs(10),
            idle: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug, Parser)]
#[command(name = "paisa", version, about = "Paisa: a wallet to send money to people by name")]
pub struct Config {
    /// Without a command, Paisa serves.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub site_addr: std::net::SocketAddr,

    /// Log filter (`tracing` syntax), e.g. `info` or `warn,paisa=debug`.
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub log: String,

    /// MongoDB connection string (a replica set: transfers are transactions).
    /// When unset, an embedded SecantusDB is started with its data in DATA_DIR.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    pub mongodb_uri: Option<String>,

    /// Database name inside the MongoDB deployment.
    #[arg(long, env = "MONGODB_DB", default_value = "paisa")]
    pub mongodb_db: String,

    /// HS256 signing secret for session tokens, at least 32 bytes. When unset,
    /// one is generated once and kept in DATA_DIR (development only).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// How long a sign-in lasts, in minutes.
    #[arg(long, env = "SESSION_TTL_MINUTES", default_value_t = 24 * 60)]
    pub session_ttl_minutes: u64,

    /// Mark the session cookie `Secure` (set this when serving behind TLS).
    /// Required on an address other than loopback, unless PLAIN_HTTP.
    #[arg(long, env = "COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// Serve people over plain HTTP on purpose (a closed network without
    /// TLS): session cookies then travel unencrypted. Logged loudly.
    #[arg(long, env = "PLAIN_HTTP", default_value_t = false)]
    pub plain_http: bool,

    /// Origins (comma-separated) allowed to call the API from a browser on
    /// another site. Empty: same-origin only.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',', default_value = "")]
    pub cors_origins: Vec<String>,

    /// Take the client address for rate limiting from the last
    /// X-Forwarded-For entry (set only behind a proxy that appends it).
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// On a database without authentication, still end every session at
    /// start (the transactions a killed instance left open). Only when Paisa
    /// is the database's only client: it ends everyone's sessions. (With
    /// authentication, Paisa ends its own user's sessions anyway; the
    /// embedded database is always Paisa's alone.)
    #[arg(long, env = "END_ALL_SESSIONS_AT_START", default_value_t = false)]
    pub end_all_sessions_at_start: bool,

    /// Where people reach this site, e.g. `https://paisa.example`: the
    /// origin of the pay links and QR codes users share. Unset: the scheme
    /// and host each request came to.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Connections one client address may hold open at once (0: no cap).
    /// Ignored with TRUST_FORWARDED_FOR: behind our own proxy every client
    /// shares its address, and the proxy bounds each client.
    #[arg(long, env = "MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256)]
    pub max_connections_per_address: usize,

    /// Live streams (`/api/v1/events`) this instance holds at once; beyond,
    /// new ones get 503 (each holds a connection: keep it well under 4,096).
    #[arg(long, env = "MAX_LIVE_STREAMS", default_value_t = DEFAULT_MAX_STREAMS)]
    pub max_live_streams: usize,

    /// Users whose names this instance keeps in memory for search (about
    /// 90 bytes each: ~9 MB per 100,000). With more, or 0, every search asks
    /// the database.
    #[arg(long, env = "SEARCH_MEMORY_MAX_USERS", default_value_t = DEFAULT_SEARCH_MEMORY_MAX_USERS)]
    pub search_memory_max_users: usize,

    /// Folder for local state: the embedded database and the dev JWT secret.
    #[arg(long, env = "DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,

    /// The SecantusDB launcher used for the embedded database.
    #[arg(long, env = "SECANTUSD", default_value = ".venv/bin/secantusd-py")]
    pub secantusd: PathBuf,
}

#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Prove the books: every balance against the journal, from one
    /// consistent snapshot; never writes. Exit 0 when every check holds
    /// (one summary line), 1 listing each violation, 2 when it cannot run.
    Audit(AuditArgs),
}

#[derive(Clone, Debug, clap::Args)]
pub struct AuditArgs {
    /// MongoDB connection string. When unset: the embedded database in
    /// DATA_DIR (through the running Paisa's own, if one is running).
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    pub mongodb_uri: Option<String>,

    /// Database name inside the MongoDB deployment.
    #[arg(long = "db", env = "MONGODB_DB", default_value = "paisa")]
    pub db: String,

    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,

    /// After each chunk of the journal, wait this many times as long as the
    /// chunk took, so the database keeps serving payments (0: no waiting).
    /// The default, 4, lets the database spend at most a fifth of its time
    /// on the audit.
    #[arg(long, default_value_t = 4)]
    pub pace: u32,

    /// Paisa's data folder (for the embedded database).
    #[arg(long, env = "DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,

    /// The SecantusDB launcher, to open the embedded database when no
    /// Paisa is running.
    #[arg(long, env = "SECANTUSD", default_value = ".venv/bin/secantusd-py")]
    pub secantusd: PathBuf,
}

impl Config {
    /// Refuses settings that cannot be right: a generated JWT secret is for
    /// one development machine, so an instance others can reach must be
    /// given the secret all instances share.
    pub fn check(&self) -> Result<(), String> {
        if self.site_addr.ip().is_loopback() {
            return Ok(());
        }
        let addr = self.site_addr;
        if self.jwt_secret.is_none() {
            return Err(format!(
                "set JWT_SECRET to listen on {addr} (a generated secret is for development on a loopback address only; every instance must share one)"
            ));
        }
        // Pay links and QR codes would otherwise take their origin from
        // whatever Host header a request brings.
        if self.public_url.as_deref().is_none_or(|u| u.trim().is_empty()) {
            return Err(format!(
                "set PUBLIC_URL (e.g. https://paisa.example) to listen on {addr}: the origin of the pay links people share"
            ));
        }
        if !self.cookie_secure && !self.plain_http {
            return Err(format!(
                "set COOKIE_SECURE=true to listen on {addr} behind TLS (or PLAIN_HTTP=true to serve plain HTTP on purpose)"
            ));
        }
        if self.plain_http {
            tracing::warn!("PLAIN_HTTP: serving people over plain HTTP on {addr}: passwords and session cookies cross the network unencrypted");
        }
        Ok(())
    }

    /// Reads the configuration from the command line and environment, exiting
    /// with clap's usage message on a bad value.
    pub fn load() -> Config {
        Config::parse()
    }
}

/// The configured CORS origins, each a `scheme://host[:port]`. A wildcard
/// is refused: the API is called with credentials, which a browser never
/// sends to `*`, so listing the origins is the only setting that works.
pub fn cors_origins(configured: &[String]) -> Result<Vec<String>, String> {
    configured
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let valid = origin
                .split_once("://")
                .is_some_and(|(scheme, host)| matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains(['/', '*', ' ']))
                && HeaderValue::from_str(origin).is_ok();
            if valid {
                Ok(origin.to_owned())
            } else {
                Err(format!(
                    "CORS_ORIGINS: {origin:?} is not an origin; list each one as scheme://host[:port] (a wildcard is not supported)"
                ))
            }
        })
        .collect()
}

/// `PUBLIC_URL`: an origin (`scheme://host[:port]`, no path), without a
/// trailing slash; unset or blank is none.
pub fn public_url(configured: Option<&str>) -> Result<Option<String>, String> {
    let Some(url) = configured
        .map(|u| u.trim().trim_end_matches('/'))
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    let valid = url.split_once("://").is_some_and(|(scheme, host)| {
        matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains(['/', '*', ' ', '?', '#'])
    });
    if valid {
        Ok(Some(url.to_owned()))
    } else {
        Err(format!(
            "PUBLIC_URL: {url:?} is not an origin; give it as https://host[:port]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_an_origin() {
        assert_eq!(public_url(None), Ok(None));
        assert_eq!(public_url(Some(" ")), Ok(None));
        assert_eq!(
            public_url(Some("https://paisa.example/")),
            Ok(Some("https://paisa.example".into()))
        );
        assert_eq!(
            public_url(Some("http://10.0.0.5:8080")),
            Ok(Some("http://10.0.0.5:8080".into()))
        );
        for bad in ["paisa.example", "ftp://x", "https://x/pay", "https://"] {
            assert!(public_url(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reachable_address_needs_the_shared_secret() {
        let parse = |args: &[&str]| Config::try_parse_from(args).unwrap();
        assert!(parse(&["paisa", "--site-addr", "127.0.0.1:3000"]).check().is_ok());
        let open = parse(&["paisa", "--site-addr", "0.0.0.0:8080"]);
        if std::env::var_os("JWT_SECRET").is_none() {
            assert!(open.check().unwrap_err().contains("JWT_SECRET"));
        }
        let secret = "0123456789abcdef0123456789abcdef";
        let reachable = ["paisa", "--site-addr", "0.0.0.0:8080", "--jwt-secret", secret];
        let with = |more: &[&str]| parse(&[&reachable[..], more].concat()).check();
        if std::env::var_os("PUBLIC_URL").is_none() {
            assert!(with(&["--cookie-secure"]).unwrap_err().contains("PUBLIC_URL"));
        }
        if std::env::var_os("COOKIE_SECURE").is_none() && std::env::var_os("PLAIN_HTTP").is_none() {
            let plain = with(&["--public-url", "https://paisa.example"]).unwrap_err();
            assert!(plain.contains("COOKIE_SECURE"), "{plain}");
        }
        assert!(with(&["--public-url", "https://paisa.example", "--cookie-secure"]).is_ok());
        assert!(with(&["--public-url", "http://10.0.0.5", "--plain-http"]).is_ok());
    }

    #[test]
    fn cors_origins_are_listed_origins_only() {
        let list = |v: &[&str]| cors_origins(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(list(&[]).unwrap(), Vec::<String>::new());
        assert_eq!(list(&[""]).unwrap(), Vec::<String>::new());
        assert_eq!(
            list(&[" https://pay.example.com ", "http://localhost:8080"]).unwrap(),
            ["https://pay.example.com", "http://localhost:8080"]
        );
        for bad in [
            "*",
            "https://*.example.com",
            "example.com",
            "https://",
            "ftp://x.com",
            "https://x.com/path",
        ] {
            let e = list(&[bad]).unwrap_err();
            assert!(e.contains("CORS_ORIGINS"), "{bad}: {e}");
        }
    }
}
