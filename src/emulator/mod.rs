//! A local fake of the Fabric Job Scheduler "list item job instances" API and the Core "list
//! items" API, for tests and demos, with knobs for latency, a per-token quota and injected
//! faults (error responses, dropped, truncated or hung connections).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fabric_jobs::emulator::{Emulator, EmulatorConfig};
//! let emu = Emulator::start(EmulatorConfig::default()).await?;
//! let state = emu.state();
//! let ws = state.add_workspace(None);
//! let item = state.add_item(ws, None, "Notebook", None).map_err(std::io::Error::other)?;
//! state.generate_job_instances(ws, item, 250, 42).map_err(std::io::Error::other)?;
//! println!("{}/workspaces/{ws}/items/{item}/jobs/instances", emu.base_url());
//! emu.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod continuation;
mod generate;
mod responses;
mod routes;
mod server;
mod state;

#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod knob_tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use state::{
    ContinuationStyle, EmulatorConfig, EmulatorError, EmulatorState, Fault, FaultKind, Quota,
    RequestRecord,
};

/// How long [`Emulator::shutdown`] waits for the server task before aborting it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running emulator bound to `127.0.0.1` on a free port. Dropping it without
/// [`Emulator::shutdown`] still signals the server to stop.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<EmulatorState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Emulator {
    /// Binds `127.0.0.1:0` and serves in a `tokio::spawn`ed task; returns once listening.
    /// Must be called within a tokio runtime. A `page_size` of 0 is an `InvalidInput` error.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let origin = format!("http://{}:{}", Ipv4Addr::LOCALHOST, addr.port());
        let state = Arc::new(
            EmulatorState::new(&config, origin)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let app = routes::router(state.clone());
        // Either an explicit stop or the sender being dropped ends the server.
        let task = tokio::spawn(server::serve(listener, app, stopped));
        Ok(Emulator {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.state.origin())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The shared data, knobs, fault queue and request log.
    pub fn state(&self) -> Arc<EmulatorState> {
        self.state.clone()
    }

    /// Stops accepting connections, ends hung requests, and waits (at most ~2 s, then aborts)
    /// for open connections to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
