//! The ops-hub bootstrap: seeds, the native steps, the runtime-key critical
//! section, the helper runner and the SQL fallback.

mod custody_journal;
pub mod helper;
pub mod runtime_key;
pub mod seeds;
pub mod sql;
pub mod steps;

mod report;

pub use report::{
    HelperContract, HelperObject, HelperReport, KeyReport, KeyStatus, OpenbaoReport, Operator,
    Report, RunnerKind, Status, StepReport, Steps, TokenCheck, Validation, ValidationCheck,
    WidgetReport,
};

/// Flags of a bootstrap run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub skip_event: bool,
    pub plan: bool,
    pub rotate: bool,
}
