//! Serving, as nutcracker starts: the log (`-o`), daemonizing (`-d`), the pid file
//! (`-p`), then the proxy until SIGTERM or SIGINT. SIGHUP reloads the configuration.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use proxy::serve::{serve as run_proxy, Log, ServeOptions};
use proxy::ProxyConfig;

use super::args::{ProxySettings, DEFAULT_OUTPUT, DEFAULT_PID_FILE};

/// How the configuration is read again on SIGHUP: the error lines to log.
pub type LoadConfig = fn(&ProxySettings) -> Result<ProxyConfig, Vec<String>>;

/// Serves `config` as `settings` say, reading it again with `load` on SIGHUP; the
/// process's exit status.
pub fn serve(config: ProxyConfig, settings: &ProxySettings, load: LoadConfig) -> ExitCode {
    let log = match open_log(settings) {
        Ok(log) => Arc::new(log),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if settings.daemonize {
        if let Err(e) = daemonize() {
            log.line(&format!("daemonize failed: {e}"));
            return ExitCode::FAILURE;
        }
    }
    // Debian's nutcracker writes its pid file only when daemonized, to its default path
    // unless `-p` names one.
    let pid_file = match (&settings.pid_file, settings.daemonize) {
        (Some(path), true) => Some(path.clone()),
        (None, true) => Some(DEFAULT_PID_FILE.into()),
        (_, false) => None,
    };
    if let Some(path) = &pid_file {
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            log.line(&format!(
                "opening pid file '{}' failed: {e}",
                path.display()
            ));
            return ExitCode::FAILURE;
        }
    }
    let reload_settings = settings.clone();
    let options = ServeOptions {
        threads: settings.threads,
        stats: Some((settings.stats_addr.clone(), settings.stats_port)),
        stats_interval: settings.stats_interval,
        load: Arc::new(move || load(&reload_settings).map_err(|lines| lines.join("; "))),
        log: log.clone(),
        io_backend: settings.io_backend,
    };
    log.line(&format!(
        "corvid proxy {} started on pid {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    ));
    let result = run_proxy(config, options);
    if let Some(path) = &pid_file {
        let _ = std::fs::remove_file(path);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.line(&format!("corvid proxy: {e}"));
            if !settings.daemonize {
                eprintln!("corvid proxy: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// nutcracker's `-o`: the log file, appended to. Without `-o`, Debian's default path;
/// if that cannot be opened (not installed as a package, or a sandboxed service), the
/// log goes to stderr instead of failing, as it would for a file given with `-o`.
fn open_log(settings: &ProxySettings) -> Result<Log, String> {
    let open = |path: &std::path::Path| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|f| Log::new(Box::new(f) as Box<dyn Write + Send>))
    };
    match open(&settings.output) {
        Ok(log) => Ok(log),
        Err(_) if settings.output.as_os_str() == DEFAULT_OUTPUT => {
            Ok(Log::new(Box::new(std::io::stderr())))
        }
        Err(e) => Err(format!(
            "opening log file '{}' failed: {e}",
            settings.output.display()
        )),
    }
}

/// Detaches from the terminal as nutcracker does: fork (the parent exits), a new
/// session, fork again, `/` as working directory, standard streams to `/dev/null`.
fn daemonize() -> std::io::Result<()> {
    // SAFETY: fork, setsid, chdir, open and dup2 are called before any thread is
    // started (the proxy's threads start after this returns); the child continues with
    // the only thread there is.
    unsafe {
        match libc::fork() {
            -1 => return Err(std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::setsid() == -1 {
            return Err(std::io::Error::last_os_error());
        }
        match libc::fork() {
            -1 => return Err(std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        libc::umask(0);
        if libc::chdir(c"/".as_ptr()) == -1 {
            return Err(std::io::Error::last_os_error());
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null < 0 {
            return Err(std::io::Error::last_os_error());
        }
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
        if null > 2 {
            libc::close(null);
        }
    }
    Ok(())
}
