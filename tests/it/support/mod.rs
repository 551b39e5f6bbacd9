//! Helpers shared by the integration tests.
pub mod cur;
pub mod postgres;
