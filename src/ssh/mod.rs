//! The SSH boundary: what sshd hands the ForceCommand.

pub mod auth_info;
pub mod command;
