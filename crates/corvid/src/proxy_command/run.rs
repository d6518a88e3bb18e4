//! Acting on `corvid proxy`'s command line: `-t` checks the configuration as
//! `nutcracker -t` does, `--explain` prints where keys go, anything else serves
//! (`serving`).

use std::ffi::OsString;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::process::ExitCode;

use proxy::{explain, Health, ListenAddress, ProxyConfig};

use super::args::{parse_args, ProxyCommand, ProxySettings};
use super::usage;

/// `corvid proxy ARGS...`.
pub fn run(args: Vec<OsString>) -> ExitCode {
    let settings = match parse_args(args) {
        Ok(ProxyCommand::Run(settings)) => settings,
        Ok(ProxyCommand::Describe { help, stats }) => {
            let mut text = usage::banner();
            if help {
                text.push_str(&usage::usage());
            }
            if stats {
                text.push_str(&usage::stats_description());
            }
            eprint!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("{}\n{}", e.message, usage::usage());
            return ExitCode::FAILURE;
        }
    };
    let file = settings.toml.as_ref().unwrap_or(&settings.conf_file);
    let loaded = load(&settings);
    if settings.test_conf {
        return test_conf(file, loaded);
    }
    let config = match loaded {
        Ok(config) => config,
        Err(lines) => {
            for line in lines {
                eprintln!("{line}");
            }
            return ExitCode::FAILURE;
        }
    };
    if !settings.explain.is_empty() {
        let health = Health::new(&config.pools);
        for key in &settings.explain {
            for listener in 0..config.listeners.len() {
                print!("{}", explain(&config, &health, listener, key.as_bytes()));
            }
        }
        return ExitCode::SUCCESS;
    }
    super::serving::serve(config, &settings, load)
}

/// nutcracker's `-t`: the reason (nutcracker writes it to its log), then the verdict.
fn test_conf(file: &Path, loaded: Result<ProxyConfig, Vec<String>>) -> ExitCode {
    let verdict = |ok: bool| {
        format!(
            "corvid proxy: configuration file '{}' syntax is {}",
            file.display(),
            if ok { "ok" } else { "invalid" }
        )
    };
    match loaded.and_then(|config| resolve_listeners(&config)) {
        Ok(()) => {
            eprintln!("{}", verdict(true));
            ExitCode::SUCCESS
        }
        Err(lines) => {
            for line in lines {
                eprintln!("{line}");
            }
            eprintln!("{}", verdict(false));
            ExitCode::FAILURE
        }
    }
}

/// Reads the configuration `-c` or `--toml` names; the error lines nutcracker would log.
fn load(settings: &ProxySettings) -> Result<ProxyConfig, Vec<String>> {
    let (path, toml) = match &settings.toml {
        Some(path) => (path, true),
        None => (&settings.conf_file, false),
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![format!(
            "conf: failed to open configuration '{}': {}",
            path.display(),
            strip_os_error(&e)
        )]
    })?;
    if toml {
        ProxyConfig::from_toml(&text).map_err(|e| vec![format!("conf: '{}': {e}", path.display())])
    } else {
        ProxyConfig::from_twemproxy_yaml_file(&text, &path.to_string_lossy())
            .map_err(|e| vec![e.to_string()])
    }
}

/// nutcracker resolves listen addresses while it reads the file; an address that does
/// not resolve makes the configuration invalid.
fn resolve_listeners(config: &ProxyConfig) -> Result<(), Vec<String>> {
    for listener in &config.listeners {
        let ListenAddress::Tcp { host, port } = &listener.address else {
            continue;
        };
        if host.is_empty() {
            continue;
        }
        if let Err(e) = (host.as_str(), *port).to_socket_addrs() {
            let reason = e.to_string();
            let reason = reason
                .strip_prefix("failed to lookup address information: ")
                .unwrap_or(&reason);
            return Err(vec![
                format!("address resolution of node '{host}' service '{port}' failed: {reason}"),
                "conf: directive \"listen\" has an invalid value".to_string(),
            ]);
        }
    }
    Ok(())
}

/// "No such file or directory" rather than "No such file or directory (os error 2)".
fn strip_os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}
