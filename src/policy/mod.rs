//! Policy checks on the caller: the certificate envelope of the lane.

pub mod cert;
pub mod glob;
pub mod replay;
