//! End-to-end: real HTTP into the local stack, real SQS, DynamoDB, KMS and S3
//! in the emulator, the same handler code Lambda runs. One test binary.

mod audience;
mod broadcasts;
mod control;
mod erased_checkpoints;
mod erased_in_flight;
mod export_link;
mod fixtures;
mod ids;
mod ingest;
mod jwt_authorizer;
mod local_stack;
mod metrics;
mod openapi;
mod opt_outs;
mod outcomes;
mod outcomes_control;
mod pages;
mod parked_erasure;
mod parked_retention;
mod preview;
mod privacy;
mod pseudonyms;
mod quarantine;
mod raw_copies;
mod tenancy;
