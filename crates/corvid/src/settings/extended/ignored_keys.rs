//! Entry makers for the `-o` keys Corvid accepts and ignores (`number!`, `text!`,
//! `switch!`, `twins!`, `real!`): each checks the value as memcached does, then leaves
//! one warning line. They expand where they are used, which imports what they name
//! (`extended`, `toggle`, `Kind`, `Status`, and the readers of [`super::value`]).

/// A whole-number key Corvid ignores, with memcached's messages.
macro_rules! number {
    ($key:literal, $help:literal) => {
        extended($key, Kind::Int, "<num>", $help, |b, g| {
            let v = need(g, concat!("Missing ", $key, " argument"))?;
            let n: u64 = whole(v, $key)?;
            ignored(b, $key, n.to_string(), $key);
            Ok(())
        })
        .status(Status::Ignored)
    };
}

/// A text key Corvid ignores.
macro_rules! text {
    ($key:literal, $arg:literal, $help:literal) => {
        extended($key, Kind::Text, $arg, $help, |b, g| {
            let v = need(g, concat!("Missing ", $key, " argument"))?;
            ignored(b, $key, v.to_string(), $key);
            Ok(())
        })
        .status(Status::Ignored)
    };
}

/// A value-less key Corvid ignores (a value, if given, is ignored too, as memcached).
macro_rules! switch {
    ($key:literal, $help:literal) => {
        extended($key, Kind::Switch, "", $help, |b, _| {
            ignored(b, $key, "true".into(), $key);
            Ok(())
        })
        .status(Status::Ignored)
    };
}

/// A key and its `no_` twin, both ignored.
macro_rules! twins {
    ($key:literal, $negation:literal, $help:literal) => {
        toggle($key, $negation, $help, |b, g| {
            let spelled = if g.negated { $negation } else { $key };
            ignored(b, $key, (!g.negated).to_string(), spelled);
            Ok(())
        })
        .status(Status::Ignored)
    };
}

/// A key whose value memcached reads as a real number.
macro_rules! real {
    ($key:literal, $help:literal) => {
        extended($key, Kind::Float, "<num>", $help, |b, g| {
            let v = need(g, concat!("Missing ", $key, " argument"))?;
            let f = real(v, $key)?;
            ignored(b, $key, f.to_string(), $key);
            Ok(())
        })
        .status(Status::Ignored)
    };
}
