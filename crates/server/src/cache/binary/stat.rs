//! STAT: all groups, or the one the key names; the lines are the text `stats`
//! command's, sent as stat frames.

use super::response::Out;
use crate::cache::report::Group;
use crate::cache::state::Cx;
use protocol::binary::{self, Request, Status};

/// STAT: all, or one group named by the key; the groups are the text command's.
pub(super) fn stat(r: &Request<'_>, out: &mut Out<'_, '_>, cx: &Cx<'_>) {
    let Some(group) = Group::of_binary(r.key) else {
        return out.error(r.opcode, Status::KeyNotFound, r.opaque);
    };
    let mut text = Vec::new();
    group.write(&mut text, cx);
    if group == Group::DetailDump {
        text.extend_from_slice(protocol::text::END);
        out.compose(|o| binary::write_stat(o, r.opaque, b"detailed", &text));
    } else {
        out.stat_lines(r.opaque, &text);
    }
    out.stat_end(r.opaque);
}
