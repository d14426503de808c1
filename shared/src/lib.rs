//! optcast's shared library: domain types and rules (pure), the Meta
//! protocol, and the storage, crypto and queue code every function uses.

// Every public fallible item says how it fails (`# Errors`).
#![warn(clippy::missing_errors_doc)]

pub mod access;
pub mod audit;
pub mod broadcast;
pub mod clock;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod dispatch;
pub mod erasure;
pub mod export;
pub mod graph;
pub mod handshake;
pub mod http;
pub mod ids;
pub mod keywords;
pub mod lead;
pub mod meta;
pub mod metrics;
pub mod objects;
pub mod outcomes;
pub mod page;
pub mod pseudonym;
pub mod quarantine;
pub mod queue;
pub mod raw_copies;
pub mod retention;
pub mod signature;
pub mod signed_request;
pub mod sqs_batch;
pub mod store;
pub mod tags;
pub mod telemetry;
pub mod text;
