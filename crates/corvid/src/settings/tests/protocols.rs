//! Which protocol is served (`-B`), and how the logins (`-S` SASL, `-Y` ascii
//! authentication) choose it and refuse UDP, as memcached does.

use super::*;

#[test]
fn protocol_modes() {
    assert_eq!(serve(&["-B", "auto"]).protocol, ProtocolMode::Auto);
    assert_eq!(serve(&["-B", "ascii"]).protocol, ProtocolMode::Ascii);
    assert!(serve(&["-B", "ascii"]).warnings.is_empty());
    let s = serve(&["--protocol=binary"]);
    assert_eq!(s.protocol, ProtocolMode::Binary);
    // Binary is served: no warning any more.
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        error(&["-B", "http"]),
        (
            "Invalid value for binding protocol: http -- should be one of auto, binary, or ascii"
                .into(),
            64
        )
    );
    assert!(message(&["-B", "ASCII"]).starts_with("Invalid value for binding protocol: ASCII"));
}

#[test]
fn logins_serve_one_protocol_and_never_udp_as_memcached() {
    let s = serve(&["-Y", "/etc/auth"]);
    assert_eq!(
        s.auth_file.as_deref(),
        Some(std::path::Path::new("/etc/auth"))
    );
    assert_eq!(s.protocol, ProtocolMode::Ascii);
    assert_eq!(serve(&["-S"]).protocol, ProtocolMode::Binary);
    assert_eq!(
        serve(&["-S", "-B", "binary"]).protocol,
        ProtocolMode::Binary
    );
    assert_eq!(
        serve(&["--auth-file=/x", "-B", "ascii"]).protocol,
        ProtocolMode::Ascii
    );
    for (args, text) in [
        (
            &["-Y", "/x", "-B", "auto"][..],
            "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.",
        ),
        (
            &["-Y", "/x", "-U", "5"],
            "Cannot use UDP with ascii authentication enabled (-U 0 to disable)",
        ),
        (
            &["-S", "-B", "ascii"],
            "ERROR: You cannot allow the ASCII protocol while using SASL.",
        ),
        (
            &["--enable-sasl", "-U", "5"],
            "ERROR: Cannot enable UDP while using binary SASL authentication.",
        ),
    ] {
        assert_eq!(error(args), (text.to_string(), 64), "{args:?}");
    }
}
