//! capcom: a voice-driven dispatch assistant for engineers who direct many AI coding agents.
//!
//! The stages of the data path each have a module:
//! hotkey + mic (`capture`) → Whisper (`transcribe`) → `understand` (pure) →
//! the daemon's coordinator → `dispatch` / `review` / `report`, all recorded in `store`.
//! `cli` is a thin client of the daemon's local API; `config` is the typed configuration.

pub mod config;
pub mod report;
pub mod capture;
pub mod transcribe;
pub mod store;
pub mod refine;
pub mod understand;
pub mod cli;
pub mod daemon;
pub mod dispatch;
pub mod git;
pub mod process;
pub mod review;
pub mod logging;
pub mod private;
pub mod github;
pub mod web;
pub mod hooks;
