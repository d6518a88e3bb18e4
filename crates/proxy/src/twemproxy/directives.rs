//! One pool's directives, applied in file order as nutcracker's `conf_handler` applies
//! them: each may be given once; numbers are `nc_atoi` numbers, booleans exactly `true`
//! or `false`; a sequence applies its key to each element (so `servers:` adds servers,
//! and a second element under any other key is a duplicate).

use super::document::{RawPool, RawValue};
use super::error::{DirectiveProblem, YamlError, MAX_KETAMA_NAME};
use crate::distribution::Distribution;
use crate::hash::HashFunction;
use crate::hash_tag::HashTag;
use crate::listen::ListenAddress;
use crate::server::{atoi, ServerSpec};

/// A pool as its directives left it; `None` is "not given".
#[derive(Debug, Default)]
pub(super) struct Directives {
    pub name: String,
    pub listen: Option<(String, ListenAddress)>,
    pub hash: Option<HashFunction>,
    pub hash_tag: Option<HashTag>,
    hash_tag_given: bool,
    pub distribution: Option<Distribution>,
    pub timeout: Option<i32>,
    pub backlog: Option<i32>,
    client_connections: Option<i32>,
    pub redis: Option<bool>,
    pub tcpkeepalive: Option<bool>,
    redis_auth: Option<String>,
    redis_db: Option<i32>,
    pub preconnect: Option<bool>,
    pub auto_eject_hosts: Option<bool>,
    pub server_connections: Option<i32>,
    pub server_retry_timeout: Option<i32>,
    pub server_failure_limit: Option<i32>,
    pub servers: Vec<ServerSpec>,
}

impl Directives {
    pub(super) fn parse(raw: &RawPool) -> Result<Directives, YamlError> {
        let mut pool = Directives {
            name: raw.name.clone(),
            ..Directives::default()
        };
        for (key, value) in &raw.entries {
            let values = match value {
                RawValue::Scalar(v) => std::slice::from_ref(v),
                RawValue::Sequence(vs) => &vs[..],
            };
            for value in values {
                pool.apply(key, value)?;
            }
        }
        Ok(pool)
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<(), YamlError> {
        let fail = |problem| YamlError::Directive {
            key: key.to_string(),
            problem,
        };
        match key {
            "listen" => {
                once(&self.listen).map_err(fail)?;
                let address =
                    ListenAddress::parse(value).map_err(|e| fail(DirectiveProblem::Listen(e)))?;
                self.listen = Some((value.to_string(), address));
            }
            "hash" => {
                once(&self.hash).map_err(fail)?;
                self.hash =
                    Some(HashFunction::from_name(value).ok_or(fail(DirectiveProblem::Hash))?);
            }
            "hash_tag" => {
                if self.hash_tag_given {
                    return Err(fail(DirectiveProblem::Duplicate));
                }
                let tag = HashTag::new(value.as_bytes()).ok_or(fail(DirectiveProblem::HashTag))?;
                self.hash_tag = Some(tag);
                self.hash_tag_given = true;
            }
            "distribution" => {
                once(&self.distribution).map_err(fail)?;
                let d = Distribution::from_twemproxy_name(value)
                    .ok_or(fail(DirectiveProblem::Distribution))?;
                self.distribution = Some(d);
            }
            "timeout" => set_number(&mut self.timeout, value).map_err(fail)?,
            "backlog" => set_number(&mut self.backlog, value).map_err(fail)?,
            "client_connections" => {
                set_number(&mut self.client_connections, value).map_err(fail)?
            }
            "redis" => set_bool(&mut self.redis, value).map_err(fail)?,
            "tcpkeepalive" => set_bool(&mut self.tcpkeepalive, value).map_err(fail)?,
            "redis_auth" => {
                once(&self.redis_auth).map_err(fail)?;
                self.redis_auth = Some(value.to_string());
            }
            "redis_db" => set_number(&mut self.redis_db, value).map_err(fail)?,
            "preconnect" => set_bool(&mut self.preconnect, value).map_err(fail)?,
            "auto_eject_hosts" => set_bool(&mut self.auto_eject_hosts, value).map_err(fail)?,
            "server_connections" => {
                set_number(&mut self.server_connections, value).map_err(fail)?
            }
            "server_retry_timeout" => {
                set_number(&mut self.server_retry_timeout, value).map_err(fail)?
            }
            "server_failure_limit" => {
                set_number(&mut self.server_failure_limit, value).map_err(fail)?
            }
            "servers" => {
                let server =
                    ServerSpec::parse(value).map_err(|e| fail(DirectiveProblem::Server(e)))?;
                self.servers.push(server);
            }
            _ => return Err(YamlError::Unknown(key.to_string())),
        }
        Ok(())
    }

    /// nutcracker's per-pool checks, in its order, then Corvid's own.
    pub(super) fn validate(&self) -> Result<(), YamlError> {
        if self.listen.is_none() {
            return Err(YamlError::MissingListen);
        }
        if self.server_connections == Some(0) {
            return Err(YamlError::ZeroServerConnections);
        }
        let redis = self.redis.unwrap_or(false);
        if !redis && self.redis_auth.as_deref().is_some_and(|a| !a.is_empty()) {
            return Err(YamlError::RedisAuth);
        }
        if self.servers.is_empty() {
            return Err(YamlError::NoServers(self.name.clone()));
        }
        let mut names: Vec<&[u8]> = self.servers.iter().map(|s| &s.ketama_name[..]).collect();
        names.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(YamlError::SameServerName {
                pool: self.name.clone(),
                name: String::from_utf8_lossy(w[0]).into_owned(),
            });
        }
        if redis {
            return Err(YamlError::Redis(self.name.clone()));
        }
        let ketama = self.distribution.unwrap_or(Distribution::Ketama) == Distribution::Ketama;
        if let Some(long) = self
            .servers
            .iter()
            .find(|s| ketama && s.ketama_name.len() > MAX_KETAMA_NAME)
        {
            return Err(YamlError::LongName {
                pool: self.name.clone(),
                name: String::from_utf8_lossy(&long.ketama_name).into_owned(),
            });
        }
        Ok(())
    }

    /// The `listen:` text as written (nutcracker compares these for duplicates).
    pub(super) fn listen_text(&self) -> &str {
        self.listen.as_ref().map_or("", |(text, _)| text)
    }
}

fn once<T>(field: &Option<T>) -> Result<(), DirectiveProblem> {
    match field {
        Some(_) => Err(DirectiveProblem::Duplicate),
        None => Ok(()),
    }
}

fn set_number(field: &mut Option<i32>, value: &str) -> Result<(), DirectiveProblem> {
    once(field)?;
    match atoi(value.as_bytes()) {
        n if n < 0 => Err(DirectiveProblem::NotANumber),
        n => {
            *field = Some(n);
            Ok(())
        }
    }
}

fn set_bool(field: &mut Option<bool>, value: &str) -> Result<(), DirectiveProblem> {
    once(field)?;
    *field = Some(match value {
        "true" => true,
        "false" => false,
        _ => return Err(DirectiveProblem::NotABoolean),
    });
    Ok(())
}
