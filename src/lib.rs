//! tcpscope: the machine's TCP socket table, live, grouped by state.

pub mod cleanup;
pub mod cli;
pub mod columns;
pub mod debug_log;
pub mod demo;
pub mod lab;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod settings;
pub mod shutdown;
pub mod socket;
pub mod source;
pub mod stream;

pub mod ui;
