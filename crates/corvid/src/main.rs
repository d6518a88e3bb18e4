//! `corvid`: a memcached-compatible cache server. Flags and defaults are memcached's, so
//! existing init scripts work unchanged. This file only turns flags into the store and
//! server configurations and starts them: no serving logic lives here. `corvid bench` and
//! `corvid proxy` are subcommands with command lines of their own.

mod getopt;
mod ports;
mod proxy_command;
mod settings;

use channel::tls::TlsContext;
use server::disk_tier::options::ExtOptions;
use server::disk_tier::restart::DiskRestore;
use server::disk_tier::ExtConfig;
use server::{
    CredentialKind, Credentials, ProtocolMode, RestartSaver, Server, ServerConfig, ServerError,
    ServerTls,
};
use settings::{Command, Settings};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use store::{Filesystem, Restore, Store, StoreConfig, SystemClock};

/// Exit status when the server cannot start (bind failure, bad store config): EX_OSERR.
const EXIT_START_FAILED: u8 = 71;
/// Exit status when `-Z`'s certificates, key or settings are refused: EX_USAGE, as
/// memcached.
const EXIT_USAGE: u8 = 64;

/// A file a security option names does not load (`-Z`'s certificates, `-Y`'s authfile,
/// `-S`'s password file): the message, and memcached's exit status for it.
#[derive(Debug)]
struct StartRefused(String, u8);

impl std::fmt::Display for StartRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartRefused {}

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "bench") {
        args.remove(0);
        return bench::main(args);
    }
    if args.first().is_some_and(|a| a == "proxy") {
        args.remove(0);
        return proxy_command::run::run(args);
    }
    let settings = match settings::parse_args(args) {
        Ok(Command::Serve(s)) => *s,
        Ok(Command::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::PrintConfig(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return exit_status(&e);
        }
    };
    for warning in &settings.warnings {
        eprintln!("{warning}");
    }
    if !settings.maxconns_fast {
        eprintln!(
            "-o no_maxconns_fast: connections over -c are always refused at once \
             (ERROR Too many open connections), as with maxconns_fast"
        );
    }
    match serve(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<StartRefused>() => {
            // As memcached: the reason alone, and its exit status.
            eprintln!("{e}");
            ExitCode::from(e.downcast_ref::<StartRefused>().map_or(1, |r| r.1))
        }
        Err(e) => match e.downcast_ref::<ServerError>() {
            // memcached's words and status for a disk tier that cannot start.
            Some(ServerError::Disk(disk)) => {
                eprintln!("{e}");
                if let disk::DiskError::Open(open) = disk {
                    eprintln!("extstore open: {}", strerror(open));
                }
                ExitCode::from(1)
            }
            _ => {
                eprintln!("failed to start: {e}");
                ExitCode::from(EXIT_START_FAILED)
            }
        },
    }
}

/// The C library's words for why a file did not open, as memcached's `perror` prints them.
fn strerror(e: &channel::OpenError) -> String {
    let code = match e.io_error() {
        Some(io) => io.raw_os_error().unwrap_or(libc::EIO),
        None => libc::EWOULDBLOCK,
    };
    let text = std::io::Error::from_raw_os_error(code).to_string();
    // std adds " (os error N)" to the C library's words.
    match text.rfind(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// memcached's exit status for a command line it refuses.
fn exit_status(e: &settings::SettingsError) -> ExitCode {
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
}

fn serve(settings: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let store_config = StoreConfig {
        memory_limit: settings.memory_limit,
        item_size_max: settings.item_size_max,
        evict: !settings.no_evict,
        cas_enabled: !settings.cas_disabled,
        ..StoreConfig::default()
    };
    // The store lives as long as the process: leaking it gives every worker and every
    // pinned item a plain `&'static` reference instead of reference counting per get.
    // The store reads a cached second that the server's maintenance thread advances
    // every 100 ms: one atomic load per operation instead of a clock read.
    let clock = Arc::new(SystemClock::ticked());
    let mut config = server_config(settings)?;
    let (store, disk_index) = match &settings.memory_file {
        None => (Store::with_clock(store_config, clock)?, None),
        Some(path) => open_memory_file(store_config, clock, path, config.ext.is_some())?,
    };
    let store: &'static Store = Box::leak(Box::new(store));
    raise_fd_limit(settings.max_conns);
    if settings.udp_bind_port() == Some(0) {
        ports::pick_free_udp_ports(&mut config.udp)?;
    }
    let udp = config.udp.clone();
    let server = Server::bind_restored(config, store, disk_index.as_deref())?;
    report_disk_restore(server.disk_restore());
    let saver = server.restart_saver();
    // As memcached: only for TCP and UDP listeners, before daemonizing (so a relative
    // path means the directory corvid was started in).
    if settings.unix_socket.is_none() {
        ports::write_port_file(&server.local_addrs(), &udp);
    }
    if settings.enable_coredumps {
        raise_core_limit();
    }
    if settings.daemonize {
        daemonize(settings.verbose > 0)?;
    }
    if settings.lock_memory {
        lock_memory();
    }
    if let Some(path) = &settings.pid_file {
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
            format!(
                "Could not open the pid file {} for writing: {e}",
                path.display()
            )
        })?;
    }
    if let Some(user) = &settings.user {
        drop_privileges(user)?;
    }
    if settings.verbose > 0 {
        for addr in server.local_addrs() {
            eprintln!("listening on {addr}");
        }
    }
    let result = server.run();
    // Every worker has stopped and every reply in flight has gone out: the cache can be
    // saved as the clients last saw it.
    if result.is_ok() && store.memory_file().is_some() {
        save(store, &saver);
    }
    if let Some(path) = &settings.pid_file {
        // memcached removes its pid file on a clean exit.
        let _ = std::fs::remove_file(path);
    }
    result?;
    Ok(())
}

/// `-e`: the store on its memory file, with the cache of the last clean stop when it can
/// be taken back, and the disk tier's saved index (`DISK`) when `with_tier`. One line
/// says what happened (memcached prints `[restart]` lines too).
fn open_memory_file(
    config: StoreConfig,
    clock: Arc<SystemClock>,
    path: &Path,
    with_tier: bool,
) -> Result<(Store, Option<Vec<u8>>), store::StoreError> {
    let known: &[[u8; 4]] = if with_tier {
        &[store::COLD_TIER_SECTION]
    } else {
        &[]
    };
    let (store, opened) = Store::open_memory_file(config, clock, path, known)?;
    if let Filesystem::Other(fs) = &opened.filesystem {
        eprintln!(
            "[restart] warning: {} is on {fs}, not tmpfs or a DAX mount: the kernel will \
             write the cache back to disk while it runs",
            path.display()
        );
    }
    let mut disk_index = None;
    match opened.restore {
        Restore::Restored {
            items,
            bytes,
            took,
            dropped_external,
            extra,
        } => {
            eprintln!(
                "[restart] restored {items} items ({bytes} bytes) from {} in {} ms",
                path.display(),
                took.as_millis()
            );
            if dropped_external > 0 {
                let why = if with_tier {
                    "the disk tier's index was not saved"
                } else {
                    "no ext_path is set"
                };
                eprintln!(
                    "[restart] {dropped_external} items whose value was in the disk tier \
                     did not come back: {why}"
                );
            }
            disk_index = extra
                .into_iter()
                .find(|x| x.tag == store::COLD_TIER_SECTION)
                .map(|x| x.payload);
        }
        Restore::Empty(why) => eprintln!("{why}"),
    }
    Ok((store, disk_index))
}

/// One line on what became of the disk tier's saved index.
fn report_disk_restore(restore: Option<&DiskRestore>) {
    match restore {
        Some(DiskRestore::Restored {
            items,
            live,
            pages,
            took,
        }) => eprintln!(
            "[restart] the disk tier took its index back: {live} values on disk in {pages} \
             pages ({} items pointed into pages dropped before the stop) in {} ms",
            items - live,
            took.as_millis()
        ),
        Some(DiskRestore::Refused { why, dropped }) => eprintln!(
            "[restart] {dropped} items whose value was in the disk tier did not come back: {why}"
        ),
        None => {}
    }
}

/// The clean stop's last step: the restart data for `-e`, with the disk tier's index.
fn save(store: &Store, saver: &RestartSaver) {
    let mut extra = Vec::new();
    let start = std::time::Instant::now();
    match saver.disk_section() {
        Some(Ok(section)) => {
            eprintln!(
                "[restart] the disk tier's index: {} bytes in {} ms",
                section.payload.len(),
                start.elapsed().as_millis()
            );
            extra.push(section);
        }
        Some(Err(e)) => eprintln!(
            "[restart] warning: cannot describe the disk tier's files ({e}): its values \
             will not come back"
        ),
        None => {}
    }
    match store.save(&extra) {
        Ok(saved) => eprintln!(
            "[restart] saved {} items ({} bytes) for a restart in {} ms",
            saved.items,
            saved.bytes,
            saved.took.as_millis()
        ),
        Err(e) => eprintln!("[restart] warning: {e}: the next start will be empty"),
    }
}

/// Descriptors beyond `-c` that the server needs for itself (listeners, epoll, wakers,
/// the signal pipe, files).
const RESERVED_FDS: u64 = 64;

/// Raises the open-file limit to fit `-c`, as memcached does. memcached refuses to start
/// when it cannot; Corvid warns and serves: the acceptor survives running out of
/// descriptors (clients wait in the backlog until some free up; hostile.rs tests it).
fn raise_fd_limit(max_conns: usize) {
    let want = max_conns as u64 + RESERVED_FDS;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= want {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max.max(want),
    };
    // SAFETY: setrlimit reads the struct we pass; failure is reported through the result.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        eprintln!(
            "warning: failed to set rlimit for open files to {want} (it is {}): connections \
             beyond it wait until descriptors free up. Start as root or request a smaller \
             maxconns value.",
            lim.rlim_cur
        );
    }
}

/// `-d`: detach from the terminal. Called before any thread exists (the server spawns
/// its threads in `run`), which `fork` requires.
fn daemonize(keep_stdio: bool) -> Result<(), String> {
    // SAFETY: single-threaded at this point; daemon() forks and the parent exits.
    if unsafe { libc::daemon(0, i32::from(keep_stdio)) } != 0 {
        return Err(format!(
            "failed to daemon() in order to daemonize: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// `-k`: lock all current and future pages in memory; memcached warns and carries on
/// when the limit does not allow it.
fn lock_memory() {
    // SAFETY: mlockall only changes the process's paging; failure is reported.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        eprintln!(
            "warning: -k: failed to lock memory ({}); carrying on without it",
            std::io::Error::last_os_error()
        );
    }
}

/// `-r`: let the process dump core of any size.
fn raise_core_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads the struct we pass; failure is reported.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &unlimited) } != 0 {
        eprintln!("failed to ensure corefile creation");
    }
}

fn server_config(s: &Settings) -> Result<ServerConfig, Box<dyn std::error::Error>> {
    // `notls:` and `mtls:` say how one TCP listener is carried; the address is the rest.
    let mut listen = Vec::new();
    let (mut plain, mut mutual) = (Vec::new(), Vec::new());
    for entry in &s.listen {
        let (kind, address) = match entry.split_once(':') {
            Some(("notls", rest)) => (Some(&mut plain), rest),
            Some(("mtls", rest)) => (Some(&mut mutual), rest),
            _ => (None, entry.as_str()),
        };
        if let (Some(list), Some(port)) = (kind, s.tcp_port()) {
            list.extend(tcp_addresses(&[address.to_string()], port)?);
        }
        listen.push(address.to_string());
    }
    let tcp = match s.tcp_port() {
        Some(port) => tcp_addresses(&listen, port)?,
        None => Vec::new(),
    };
    // memcached binds UDP on the same interfaces as TCP; a Unix socket turns both off.
    let udp = match s.udp_bind_port() {
        Some(port) => tcp_addresses(&listen, port)?,
        None => Vec::new(),
    };
    let tls = if s.tls_enabled {
        let context =
            TlsContext::new(s.tls.clone()).map_err(|e| StartRefused(e.to_string(), EXIT_USAGE))?;
        if !mutual.is_empty() && !context.supports_mutual() {
            return Err(StartRefused(
                "'mtls' listeners need ssl_ca_cert: the CA client certificates are checked \
                 against"
                    .into(),
                EXIT_USAGE,
            )
            .into());
        }
        Some(ServerTls {
            context: Arc::new(context),
            plain,
            mutual,
            handshake_timeout: Duration::from_secs(s.ssl_handshake_timeout),
        })
    } else {
        None
    };
    // memcached exits 1 when the authfile or SASL does not load.
    let auth_file = match &s.auth_file {
        Some(path) => Some(Arc::new(
            Credentials::load(path, CredentialKind::Authfile)
                .map_err(|e| StartRefused(e.to_string(), 1))?,
        )),
        None => None,
    };
    let sasl = if s.sasl {
        let Some(path) = std::env::var_os("MEMCACHED_SASL_PWDB") else {
            return Err(StartRefused(
                "Error initializing sasl: corvid checks SASL logins against the user:password \
                 file MEMCACHED_SASL_PWDB names, and it is not set"
                    .into(),
                1,
            )
            .into());
        };
        Some(Arc::new(
            Credentials::load(path, CredentialKind::SaslPwdb)
                .map_err(|e| StartRefused(format!("Error initializing sasl: {e}"), 1))?,
        ))
    } else {
        None
    };
    Ok(ServerConfig {
        tls,
        auth_file,
        sasl,
        tcp,
        udp,
        unix_socket: s.unix_socket.clone(),
        unix_mask: s.unix_mask,
        threads: s.threads,
        max_conns: s.max_conns,
        reqs_per_event: s.reqs_per_event,
        allow_shutdown: s.allow_shutdown,
        verbose: s.verbose,
        idle_timeout: (s.idle_timeout > 0).then(|| Duration::from_secs(s.idle_timeout)),
        protocol: match s.protocol {
            settings::ProtocolMode::Auto => ProtocolMode::Auto,
            settings::ProtocolMode::Ascii => ProtocolMode::Ascii,
            settings::ProtocolMode::Binary => ProtocolMode::Binary,
        },
        backlog: i32::try_from(s.backlog).unwrap_or(i32::MAX),
        flush_enabled: s.flush_enabled,
        dump_enabled: s.dump_enabled,
        watch_enabled: s.watch_enabled,
        // memcached shows -1 here for "any free port"; the server's field has no room for it.
        tcp_port: u16::try_from(s.port).unwrap_or(0),
        udp_port: u16::try_from(s.udp_port).unwrap_or(0),
        interface: (!s.listen.is_empty()).then(|| s.listen.join(",")),
        ext: ext_config(&s.ext)?,
        admin: s.admin,
        subsystems: subsystems(s),
        io_backend: match s.io_uring {
            true => server::IoBackend::Uring,
            false => server::IoBackend::Epoll,
        },
        ..ServerConfig::default()
    })
}

/// The disk tier from the `-o ext_*` keys (already checked while parsing).
fn ext_config(keys: &[(String, Option<String>)]) -> Result<Option<ExtConfig>, String> {
    let mut options = ExtOptions::default();
    for (key, value) in keys {
        options.apply(key, value.as_deref())?;
    }
    options.build()
}

/// Which of memcached's subsystems the flags turned off (Corvid accepts and ignores
/// their options, but `stats` lists their counters as memcached would). `-o no_modern`
/// turns off all four, as in memcached 1.6.18.
fn subsystems(s: &Settings) -> server::Subsystems {
    let off = |key: &str| s.ignored.get(key).is_some_and(|v| v == "false");
    let modern = !off("modern");
    server::Subsystems {
        maxconns_fast: s.maxconns_fast && modern,
        slab_reassign: !off("slab_reassign") && modern,
        lru_crawler: !off("lru_crawler") && modern,
        lru_maintainer: !off("lru_maintainer") && modern,
    }
}

/// memcached's `-l`: hosts or addresses, each optionally with `:port`; none means every
/// interface, IPv4 and IPv6.
fn tcp_addresses(listen: &[String], port: u16) -> Result<Vec<SocketAddr>, String> {
    if listen.is_empty() {
        let mut all = vec![SocketAddr::from(([0, 0, 0, 0], port))];
        if ipv6_available() {
            all.push(SocketAddr::from(([0u16; 8], port)));
        }
        return Ok(all);
    }
    let mut out = Vec::new();
    for entry in listen {
        let with_port = if entry.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{entry}]:{port}")
        } else if entry.starts_with('[') && entry.ends_with(']') {
            format!("{entry}:{port}")
        } else if entry.contains(':') {
            entry.clone()
        } else {
            format!("{entry}:{port}")
        };
        let addrs = with_port
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve listen address {entry}: {e}"))?;
        out.extend(addrs);
    }
    out.dedup();
    Ok(out)
}

fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// `-u`: switch to this user after binding, as memcached does when started as root.
fn drop_privileges(user: &str) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let name = std::ffi::CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    // SAFETY: getpwnam reads a NUL-terminated string and returns a pointer to static
    // storage or null; we copy the ids out before any other call could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(format!("can't find the user {user} to switch to"));
    }
    // SAFETY: pw is non-null and points to a valid passwd record (see above).
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    // SAFETY: plain syscalls on integer ids; failure is reported through the return value.
    if unsafe { libc::setgid(gid) } != 0 || unsafe { libc::setuid(uid) } != 0 {
        return Err(format!("failed to assume identity of user {user}"));
    }
    Ok(())
}
