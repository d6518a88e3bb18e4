//! Corvid's TOML routes served end to end: key-prefix routing to different pools,
//! replication (writes on every server of a pool, reads from one), failover (the next
//! server on an error, and on a miss when asked), a share of keys shadowed to another
//! pool, and the cap on the share of a pool ejected at once. Every expectation comes
//! from `corvid proxy --explain KEY` on the same file, so the explanation is checked
//! against what the serving path really does. Pool `a` is three Corvid servers, the
//! others memcached. The pools hash with md5: twemproxy's default (fnv1a_64) puts keys
//! as alike as `k1`..`k40` on a narrow arc of the ring, often all on one or two servers.

mod support;

use std::time::{Duration, Instant};

use support::proxy::{self, explain, explained_ports, Client, Kind};
use support::Server;

/// Polls `f` until it holds (a shadow copy is written after the client's answer).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn servers(list: &[&Server]) -> String {
    let names: Vec<String> = list
        .iter()
        .map(|s| format!("\"127.0.0.1:{}:1\"", s.port()))
        .collect();
    names.join(", ")
}

#[test]
fn routes_do_what_explain_says() {
    let mut a: Vec<Server> = (0..3).map(|_| Server::corvid(&[])).collect();
    let b: Vec<Server> = (0..2).map(|_| Server::memcached(&[])).collect();
    let c = Server::memcached(&[]);
    let (a_list, b_list) = (
        servers(&a.iter().collect::<Vec<_>>()),
        servers(&b.iter().collect::<Vec<_>>()),
    );
    let c_list = servers(&[&c]);
    let p = proxy::start(Kind::CorvidToml, 2, |listen| {
        format!(
            "[[listen]]\naddress = \"{listen}\"\nroute = \"main\"\n\n\
             [pools.a]\nservers = [{a_list}]\ntimeout = 2000\nhash = \"md5\"\n\n\
             [pools.b]\nservers = [{b_list}]\ntimeout = 2000\n\n\
             [pools.c]\nservers = [{c_list}]\ntimeout = 2000\n\n\
             [routes.main]\ntype = \"prefix\"\nprefixes = {{ \"rep:\" = \"rep\", \"fo:\" = \"fo\" }}\n\
             default = \"sh\"\n\n\
             [routes.rep]\ntype = \"replicate\"\npool = \"b\"\n\n\
             [routes.fo]\ntype = \"failover\"\npool = \"a\"\nattempts = 3\non_miss = true\n\n\
             [routes.sh]\ntype = \"shadow\"\nprimary = \"a\"\nshadow = \"c\"\nshare = 0.5\n"
        )
    });
    let mut client = Client::new(p.addr);
    let b_ports: Vec<u16> = b.iter().map(Server::port).collect();
    let a_ports: Vec<u16> = a.iter().map(Server::port).collect();

    // Prefix "rep:" -> replicate over pool b: every write on both servers, reads from
    // the key's one server.
    for i in 0..20 {
        let key = format!("rep:{i}");
        let e = explain(&p.conf, &key);
        assert!(
            e.contains("route main: prefix \"rep:\" -> route rep"),
            "{e}"
        );
        assert!(e.contains("replicate over pool b"), "{e}");
        let mut written = explained_ports(&e, "write");
        written.sort_unstable();
        let mut both = b_ports.clone();
        both.sort_unstable();
        assert_eq!(written, both, "{e}");
        assert_eq!(explained_ports(&e, "read").len(), 1, "{e}");
        let set = client.line(format!("set {key} 0 0 3\r\nrep\r\n").as_bytes());
        assert_eq!(set, "STORED\r\n");
        for port in &b_ports {
            assert!(Client::to_port(*port).has(&key), "{key} not on {port}");
        }
        for port in a_ports.iter().chain([&c.port()]) {
            assert!(!Client::to_port(*port).has(&key), "{key} leaked to {port}");
        }
        let got = client.ask(format!("get {key}\r\n").as_bytes(), b"END\r\n", 1);
        assert_eq!(got, format!("VALUE {key} 0 3\r\nrep\r\nEND\r\n").as_bytes());
    }
    assert_eq!(client.line(b"delete rep:0\r\n"), "DELETED\r\n");
    for port in &b_ports {
        assert!(!Client::to_port(*port).has("rep:0"), "a replica kept rep:0");
    }

    // No prefix: the default route shadows half the keys (by key) to pool c; the primary
    // is pool a, one server per key.
    let mut copied = 0;
    for i in 0..40 {
        let key = format!("d:{i}");
        let e = explain(&p.conf, &key);
        assert!(e.contains("no prefix matches: default -> route sh"), "{e}");
        assert!(e.contains("shadow 50.0% of keys to pool c"), "{e}");
        let ports = explained_ports(&e, "write");
        let shadowed = e.contains(", copied ->");
        assert_eq!(ports.len(), if shadowed { 2 } else { 1 }, "{e}");
        assert_eq!(
            client.line(format!("set {key} 0 0 1\r\nd\r\n").as_bytes()),
            "STORED\r\n"
        );
        for port in &a_ports {
            assert_eq!(
                Client::to_port(*port).has(&key),
                *port == ports[0],
                "{key} on {port}: {e}"
            );
        }
        if shadowed {
            copied += 1;
            eventually(&format!("{key} shadowed to pool c"), || {
                Client::to_port(c.port()).has(&key)
            });
        }
    }
    assert!((5..=35).contains(&copied), "{copied} of 40 keys shadowed");
    // The copies are all written (polled above): the keys explain leaves out are not
    // there, however long one waits.
    for i in 0..40 {
        let key = format!("d:{i}");
        let e = explain(&p.conf, &key);
        assert_eq!(
            Client::to_port(c.port()).has(&key),
            e.contains(", copied ->"),
            "{key}: {e}"
        );
    }

    // Prefix "fo:" -> failover over pool a, on a miss too: a key held only by its second
    // server is found; written keys land on the first.
    let e = explain(&p.conf, "fo:m");
    assert!(
        e.contains("failover over pool a, up to 3 servers, next on error or on a miss"),
        "{e}"
    );
    let order = explained_ports(&e, "read");
    assert_eq!(order.len(), 3, "{e}");
    assert_eq!(
        Client::to_port(order[1]).line(b"set fo:m 0 0 6\r\nsecond\r\n"),
        "STORED\r\n"
    );
    assert_eq!(
        client.ask(b"get fo:m\r\n", b"END\r\n", 1),
        b"VALUE fo:m 0 6\r\nsecond\r\nEND\r\n"
    );
    assert_eq!(client.ask(b"get fo:none\r\n", b"END\r\n", 1), b"END\r\n");

    // Failover on an error: the first server of a key is killed; the write goes to the
    // next server in explain's order and is read back from there.
    let victim = a_ports[0];
    let (key, order) = (0..200)
        .map(|i| format!("fo:{i}"))
        .find_map(|k| {
            let order = explained_ports(&explain(&p.conf, &k), "write");
            (order[0] == victim).then_some((k, order))
        })
        .expect("a failover key whose first server is a[0]");
    drop(a.remove(0));
    assert_eq!(
        client.line(format!("set {key} 0 0 2\r\nfo\r\n").as_bytes()),
        "STORED\r\n"
    );
    assert!(
        Client::to_port(order[1]).has(&key),
        "{key} not on the next server"
    );
    assert_eq!(
        client.ask(format!("get {key}\r\n").as_bytes(), b"END\r\n", 1),
        format!("VALUE {key} 0 2\r\nfo\r\nEND\r\n").as_bytes()
    );
    // The default route has no failover: a key of the dead server fails.
    let lost = (0..200)
        .map(|i| format!("d:{i}"))
        .find(|k| explained_ports(&explain(&p.conf, k), "write")[0] == victim)
        .expect("a default-route key on a[0]");
    assert_eq!(
        client.line(format!("set {lost} 0 0 1\r\nx\r\n").as_bytes()),
        "SERVER_ERROR Connection refused\r\n"
    );
}

/// `max_share`: with two of three servers dead and a cap of one server out at once,
/// exactly one is ejected (its keys move); the other stays in and its keys keep failing.
#[test]
fn the_ejected_share_is_capped() {
    let mut backends: Vec<Server> = (0..3).map(|_| Server::memcached(&[])).collect();
    let list = servers(&backends.iter().collect::<Vec<_>>());
    let p = proxy::start(Kind::CorvidToml, 1, |listen| {
        format!(
            "[[listen]]\naddress = \"{listen}\"\nroute = \"p\"\n\n\
             [pools.p]\nservers = [{list}]\ntimeout = 2000\nhash = \"md5\"\n\
             ejection = {{ policy = \"remap\", failure_limit = 1, retry_timeout = 600000, max_share = 0.34 }}\n"
        )
    });
    let mut client = Client::new(p.addr);
    let keys: Vec<String> = (0..150).map(|i| format!("cap{i}")).collect();
    for k in &keys {
        assert_eq!(
            client.line(format!("set {k} 0 0 1\r\nx\r\n").as_bytes()),
            "STORED\r\n"
        );
    }
    let on_dead = keys
        .iter()
        .filter(|k| !Client::to_port(backends[0].port()).has(k))
        .count();
    backends.truncate(1);
    // In the first round a request can still go out on a connection pooled before the
    // kill, and the dead server's kernel answers it with a reset (nutcracker words it the
    // same way, from errno); after that every attempt is a new connection, refused.
    let round = |client: &mut Client, pooled: bool| -> usize {
        keys.iter()
            .filter(|k| {
                let reply = client.line(format!("set {k} 0 0 1\r\ny\r\n").as_bytes());
                assert!(
                    reply == "STORED\r\n"
                        || reply == "SERVER_ERROR Connection refused\r\n"
                        || (pooled && reply == "SERVER_ERROR Connection reset by peer\r\n"),
                    "{k}: {reply}"
                );
                reply != "STORED\r\n"
            })
            .count()
    };
    // The first failure ejects one server: its keys move to the live one, or to the
    // other dead one, which is never ejected: its keys keep failing.
    round(&mut client, true);
    let (first, second) = (round(&mut client, false), round(&mut client, false));
    assert!(
        second < on_dead,
        "nothing was ejected: {second} of the {on_dead} keys of the dead servers fail"
    );
    assert!(
        second > 0,
        "both dead servers were ejected despite max_share"
    );
    assert_eq!(first, second, "the failing set keeps changing");
    let stats = client.ask(b"stats backends\r\n", b"END\r\n", 1);
    let stats = String::from_utf8_lossy(&stats);
    let ejections: u64 = stats
        .lines()
        .filter(|l| l.contains(":ejections "))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(ejections, 1, "{stats}");
}
