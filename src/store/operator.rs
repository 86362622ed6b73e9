//! The Inter-Hub operator key, unlocked. An [`OperatorKey`] is a proof: only
//! two checks make one — the store's read for a [`VerifiedCaller`] (the
//! certificate check passed) and the attended key-file check
//! ([`OperatorKey::from_attended_file`]). Nothing else can unlock it.

use std::path::Path;

use super::{check_value, MAX_OPERATOR_KEY};
use crate::error::Error;
use crate::os::files::{read_secret_file, Rule};
use crate::secret::Secret;

#[derive(Debug)]
pub struct OperatorKey(Secret);

impl OperatorKey {
    /// Only the store makes one from a value it read for a verified caller.
    pub(super) fn from_store(value: Secret) -> OperatorKey {
        OperatorKey(value)
    }

    /// The attended path's key file: a regular file owned by the caller,
    /// mode 0600 (or 0400), in folders only they and root can write, holding
    /// a bounded printable value.
    pub fn from_attended_file(path: &Path) -> Result<OperatorKey, Error> {
        let value = read_secret_file(path, Rule::ATTENDED_KEY.named("operator key file"))
            .map_err(Error::KeyFileUntrusted)?;
        check_value("operator key file", value.expose(), MAX_OPERATOR_KEY)?;
        Ok(OperatorKey(value))
    }

    pub fn secret(&self) -> &Secret {
        &self.0
    }
}
