//! Sources embedded at build time (see `build.rs`): the guest SDKs, the WIT
//! contract, the method plugins. Paths are relative to the repository.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The contents of the embedded file `path`.
pub(crate) fn file(path: &str) -> Option<&'static str> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, c)| *c)
}

/// Every embedded file under `prefix` (which ends in `/`), with the prefix
/// removed from its path.
pub(crate) fn under(prefix: &str) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    FILES
        .iter()
        .filter_map(move |(p, c)| p.strip_prefix(prefix).map(|rest| (rest, *c)))
}
