//! The lane's real work (gate, verify, bootstrap) for a verified caller.

use serde_json::Value;

use crate::config::Config;
use crate::error::Error;
use crate::evidence::RunInfo;
use crate::os::signals::Signals;
use crate::policy::cert::VerifiedCaller;
use crate::ssh::command::Verb;

pub fn run(
    _cfg: &Config,
    _caller: &VerifiedCaller,
    verb: Verb,
    _run: &RunInfo,
    _signals: &Signals,
) -> Result<Value, Error> {
    Err(Error::NotImplemented(verb.canonical()))
}
