//! `md`: delete, or with `I`/`x` keep the item invalidated or emptied; CAS compared.

use crate::cache::state::Cx;
use crate::cache::value::Pinned;
use crate::runtime::Reply;
use protocol::meta::{self, Facts, Request, Status};
use store::{MetaDelete, MetaDeleteOutcome};

pub(super) fn delete(req: &Request<'_>, reply: &mut Reply<'_, Pinned>, cx: &Cx<'_>) {
    let f = &req.flags;
    let keeps = f.invalidate || f.remove_value;
    let d = MetaDelete {
        compare_cas: f.compare_cas,
        invalidate: f.invalidate,
        // protocol.txt: T updates the TTL only together with I (or x, which keeps the item).
        exptime: f.set_ttl.filter(|_| keeps),
        new_cas: f.new_cas,
        remove_value: f.remove_value,
    };
    let status = match cx.service().store.meta_delete(req.key(), d) {
        MetaDeleteOutcome::Deleted | MetaDeleteOutcome::Kept { .. } => {
            if f.quiet {
                return;
            }
            Status::Stored
        }
        MetaDeleteOutcome::NotFound => Status::NotFound,
        MetaDeleteOutcome::Exists => Status::Exists,
    };
    let facts = Facts {
        key: Some(req.key()),
        binary_key: f.base64,
        ..Facts::default()
    };
    reply.compose(|o| meta::write_status(o, status, f, &facts));
}
