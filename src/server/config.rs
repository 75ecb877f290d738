//! Every setting Paisa reads, documented once. Each flag mirrors an
//! environment variable (`paisa --help` lists them); the site address and
//! asset folder come from Leptos's own `LEPTOS_*` variables.

use clap::Parser;
use std::path::PathBuf;

#[derive(Clone, Debug, Parser)]
#[command(name = "paisa", version, about = "Paisa: a wallet to send money to people by name")]
pub struct Config {
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
    #[arg(long, env = "COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// Origins (comma-separated) allowed to call the API from a browser on
    /// another site. Empty: same-origin only.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',', default_value = "")]
    pub cors_origins: Vec<String>,

    /// Take the client address for rate limiting from the last
    /// X-Forwarded-For entry (set only behind a proxy that appends it).
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Folder for local state: the embedded database and the dev JWT secret.
    #[arg(long, env = "DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,

    /// The SecantusDB launcher used for the embedded database.
    #[arg(long, env = "SECANTUSD", default_value = ".venv/bin/secantusd-py")]
    pub secantusd: PathBuf,
}

impl Config {
    /// Reads the configuration from the command line and environment, exiting
    /// with clap's usage message on a bad value.
    pub fn load() -> Config {
        Config::parse()
    }
}
