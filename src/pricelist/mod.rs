//! The AWS Price List as the source of rate cards: offer files in, validated card rows (and a
//! report of everything left out) out. Used by the `ratecard` command (`ratecard_cmd.rs`).
//!
//! ```text
//! offer files (JSON/CSV) --offer--> PriceItem --usagetype + mapping--> import::Row --card--> TOML
//!                                                                         |
//!                                      expand (card → flat prices) --> diff, check
//! ```
//!
//! - [`offer`]: the wire format of an offer file, both forms, to [`offer::PriceItem`]s
//! - [`usagetype`]: the four usage-type grammars → token class, tier, scope, band (pure)
//! - [`mapping`]: the reviewed table from Price List names to Bedrock model ids
//! - [`import`]: items → rows priced per 1M tokens, exactly, with a report (pure)
//! - [`card`]: rows → a deterministic TOML rate card with provenance (pure)
//! - [`report`]: the import report as text
//! - [`expand`], [`diff`], [`check`]: compare two cards, or a card with the Price List (pure)
//! - [`fetch`]: download the current offer files (I/O)

pub mod card;
pub mod check;
pub mod diff;
pub mod expand;
pub mod fetch;
pub mod import;
pub mod mapping;
pub mod offer;
pub mod report;
pub mod usagetype;
