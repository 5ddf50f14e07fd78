//! The Rust core: everything that talks to Fabric, with no Python in it.
//!
//! Data flows one way: response bytes -> serde structs ([`models`]) -> the caller.
//! [`paging::Pager`] is the one paging engine; the sync and async Python iterators both drive it.

pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod fanout;
pub mod ids;
pub mod limiter;
pub mod models;
pub mod observe;
pub mod paging;
pub mod response;
pub mod retry;
pub mod runtime;
pub mod secret;
pub mod sync;
pub mod timestamp;
pub mod token_encoding;

pub use client::Client;
pub use config::ClientConfig;
pub use error::{ApiError, Error, Result};
pub use models::{ErrorDetail, ErrorResponse, Item, JobInstance, Page, PageItem, RelatedResource};
pub use paging::Pager;
