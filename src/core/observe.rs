//! Hooks for logging: the core reports what it does; the Python layer turns it into `logging`.

use std::fmt;
use std::time::Duration;

/// One HTTP exchange, reported once it completed (or failed).
#[derive(Debug, Clone)]
pub struct RequestEvent<'a> {
    pub method: &'a str,
    /// Never contains the token: it travels in a header.
    pub url: &'a str,
    /// `None` when no response arrived (connection error, timeout).
    pub status: Option<u16>,
    pub elapsed: Duration,
    pub request_id: Option<&'a str>,
    /// 1 for the first try.
    pub attempt: u32,
}

/// A retry about to happen.
#[derive(Debug, Clone)]
pub struct RetryEvent<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub reason: &'a str,
    pub wait: Duration,
    /// The retry number (1 = first retry) and the most allowed.
    pub retry: u32,
    pub max_retries: u32,
}

pub trait Observer: Send + Sync + fmt::Debug {
    fn request(&self, _event: &RequestEvent<'_>) {}
    fn retry(&self, _event: &RetryEvent<'_>) {}
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {}
