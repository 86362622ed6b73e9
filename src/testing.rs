//! What the integration tests drive below the binary (the OpenBao custody
//! tests run the store against a real server). Not an API: hidden, and
//! nothing else may depend on it.

pub use crate::config::{KvField, OpenbaoAuth, OpenbaoConfig};
pub use crate::error::Error;
pub use crate::evidence::new_run_id;
pub use crate::policy::cert::{verify, CertPolicy, PinnedCa, VerifiedCaller};
pub use crate::policy::glob::KeyIdPattern;
pub use crate::secret::Secret;
pub use crate::store::openbao::OpenBao;
pub use crate::store::{KeyRecord, Provenance, Stored};
