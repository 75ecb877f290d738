//! The embedded default database: a SecantusDB (MongoDB wire protocol,
//! single-node replica set) run as a child process when no MONGODB_URI is
//! given, and by the test harness. It is a separate program (GPL-2.0): we only
//! start it and talk to it through the `mongodb` driver.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the server under a small shell guard that holds our end of a pipe on
/// its stdin: when this process exits for any reason (even SIGKILL) the pipe
/// closes, `read` returns and the guard stops the database. No orphans.
const GUARD: &str = r#"
"$@" &
db=$!
while read -r _; do :; done
kill -TERM "$db" 2>/dev/null
wait "$db"
"#;

/// A running SecantusDB; stopped (gracefully) when dropped.
pub struct EmbeddedMongo {
    guard: Option<Child>,
    /// The lock on its files, held while it runs (none in memory).
    _lock: Option<std::fs::File>,
    port: u16,
    /// Where its address is advertised, if it is (see [`Self::advertise`]).
    advertised: Option<PathBuf>,
}

/// The file in a data folder that holds the address of the embedded
/// database a running Paisa serves from.
const ADDRESS_FILE: &str = "db.uri";

/// The address a running Paisa advertised in `data_dir`, if any (it may be
/// stale: the caller checks that it answers).
pub fn advertised_uri(data_dir: &Path) -> Option<String> {
    let uri = std::fs::read_to_string(data_dir.join(ADDRESS_FILE)).ok()?;
    let uri = uri.trim();
    uri.starts_with("mongodb://").then(|| uri.to_owned())
}

impl EmbeddedMongo {
    /// Starts `secantusd` on a free loopback port with its data in `storage`
    /// (created if missing, reopened intact across restarts; `:memory:` for a
    /// throwaway one) and waits until it accepts connections.
    pub fn start(secantusd: &Path, storage: &Path) -> io::Result<EmbeddedMongo> {
        if !secantusd.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} not found: run scripts/setup, or set MONGODB_URI",
                    secantusd.display()
                ),
            ));
        }
        let lock = match storage.as_os_str() == ":memory:" {
            true => None,
            false => {
                std::fs::create_dir_all(storage)?;
                Some(lock_files(storage)?)
            }
        };
        let port = free_port()?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(GUARD)
            .arg("secantusd-guard")
            .arg(secantusd)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--log-level",
                "WARNING",
            ])
            .arg("--storage-path")
            .arg(storage);
        if storage.as_os_str() != ":memory:" {
            // A commit is on disk before it is acknowledged: without this, a
            // database killed right after a transfer was confirmed loses it.
            cmd.arg("--sync-on-commit");
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::null());
        // Own process group: a Ctrl-C in the terminal reaches the app, which
        // drains its requests first and only then stops the database.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn()?;
        let mut db = EmbeddedMongo {
            guard: Some(child),
            _lock: lock,
            port,
            advertised: None,
        };
        db.wait_ready(Duration::from_secs(60))?;
        Ok(db)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URI for the `mongodb` driver. `directConnection` because the server
    /// advertises itself as a replica-set primary under its own name.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// Leaves this database's address in `data_dir`, so tools such as
    /// `paisa audit` read the data through it instead of opening the same
    /// files a second time. Removed when the database stops.
    pub fn advertise(&mut self, data_dir: &Path) -> io::Result<()> {
        let path = data_dir.join(ADDRESS_FILE);
        std::fs::write(&path, self.uri())?;
        self.advertised = Some(path);
        Ok(())
    }

    fn wait_ready(&mut self, limit: Duration) -> io::Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let start = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(guard) = self.guard.as_mut() {
                if let Some(status) = guard.try_wait()? {
                    return Err(io::Error::other(format!("SecantusDB exited at start ({status})")));
                }
            }
            if start.elapsed() > limit {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "SecantusDB did not start listening",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the database and waits for it to flush and release its files.
    pub fn stop(&mut self) {
        if let Some(path) = self.advertised.take() {
            let _ = std::fs::remove_file(path);
        }
        if let Some(mut guard) = self.guard.take() {
            drop(guard.stdin.take());
            let _ = guard.wait();
        }
    }
}

impl Drop for EmbeddedMongo {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Locks the database files at `storage` for this process (an advisory
/// lock beside them, released when the process ends however it ends): a
/// second database on the same files would corrupt them. Refused with
/// [`io::ErrorKind::WouldBlock`] while another process holds them.
fn lock_files(storage: &Path) -> io::Result<std::fs::File> {
    let path = storage.with_extension("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("{} is in use by another process (a running Paisa?)", storage.display()),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
