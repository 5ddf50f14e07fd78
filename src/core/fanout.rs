//! Listing the job instances of many items at once, within the client's rate limit.
//!
//! Results arrive as each item's listing completes (most items hold ~100 instances: 1-2 pages),
//! each tagged with its workspace and item. One item's failure is its own result and does not
//! stop the others.

use crate::core::client::Client;
use crate::core::error::Result;
use crate::core::models::{Item, PageItem};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// One item to list.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub workspace_id: String,
    pub item_id: String,
    pub item_type: Option<String>,
    pub display_name: Option<String>,
}

impl Target {
    pub fn new(workspace_id: impl Into<String>, item_id: impl Into<String>) -> Self {
        Self {
            workspace_id: workspace_id.into(),
            item_id: item_id.into(),
            item_type: None,
            display_name: None,
        }
    }
}

/// The outcome of one item. `item_id` is `None` only for a failure to enumerate a workspace's
/// items (then nothing else is known about them).
#[derive(Debug)]
pub struct ItemResult<T> {
    pub workspace_id: String,
    pub item_id: Option<String>,
    pub item_type: Option<String>,
    pub display_name: Option<String>,
    pub outcome: Result<Vec<T>>,
}

async fn list_one<T: PageItem>(client: Client, target: Target) -> ItemResult<T> {
    let outcome = async {
        let mut pager =
            client.list_item_job_instances(&target.workspace_id, &target.item_id, None)?;
        let mut all = Vec::new();
        while let Some(page) = pager.next_page::<T>().await? {
            all.extend(page.items);
        }
        Ok(all)
    }
    .await;
    ItemResult {
        workspace_id: target.workspace_id,
        item_id: Some(target.item_id),
        item_type: target.item_type,
        display_name: target.display_name,
        outcome,
    }
}

/// Lists every target from `targets` with at most `concurrency` listings at a time, sending
/// each result to `results` as it completes. Returns when all are done or nobody listens.
async fn drive<T: PageItem>(
    client: Client,
    mut targets: mpsc::Receiver<Target>,
    concurrency: usize,
    results: mpsc::Sender<ItemResult<T>>,
) {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    // Dropping the set (when this task is aborted) aborts every listing in it.
    let mut listings = JoinSet::new();
    while let Some(target) = targets.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        // Reap finished listings so the set does not grow with the number of targets.
        while listings.try_join_next().is_some() {}
        let client = client.clone();
        let results = results.clone();
        listings.spawn(async move {
            let result = list_one::<T>(client, target).await;
            let _ = results.send(result).await;
            drop(slot);
        });
    }
    while listings.join_next().await.is_some() {}
}

/// Fans out over explicit targets. Spawn the returned future on the runtime; read `results`.
pub fn many<T: PageItem>(
    client: Client,
    targets: Vec<Target>,
    concurrency: usize,
) -> (
    impl std::future::Future<Output = ()> + Send,
    mpsc::Receiver<ItemResult<T>>,
) {
    let (result_tx, result_rx) = mpsc::channel(concurrency.max(1) * 2);
    let (target_tx, target_rx) = mpsc::channel(targets.len().max(1));
    let work = async move {
        for target in targets {
            // The channel holds every target, so this never waits.
            if target_tx.send(target).await.is_err() {
                return;
            }
        }
        drop(target_tx);
        drive(client, target_rx, concurrency, result_tx).await;
    };
    (work, result_rx)
}

/// Enumerates a workspace's items (optionally of one type) and fans out over them, starting
/// each item's listing as soon as the page naming it arrives.
pub fn workspace<T: PageItem>(
    client: Client,
    workspace_id: String,
    item_type: Option<String>,
    concurrency: usize,
) -> (
    impl std::future::Future<Output = ()> + Send,
    mpsc::Receiver<ItemResult<T>>,
) {
    let (result_tx, result_rx) = mpsc::channel(concurrency.max(1) * 2);
    let (target_tx, target_rx) = mpsc::channel(concurrency.max(1) * 4);
    let enumerate_results = result_tx.clone();
    let enumerate_client = client.clone();
    let enumerate = async move {
        let failure = async {
            let mut pager = enumerate_client.list_items(&workspace_id, item_type.as_deref())?;
            while let Some(page) = pager.next_page::<Item>().await? {
                for item in page.items {
                    let Some(item_id) = item.id else { continue };
                    let target = Target {
                        workspace_id: item.workspace_id.unwrap_or_else(|| workspace_id.clone()),
                        item_id,
                        item_type: item.item_type,
                        display_name: item.display_name,
                    };
                    if target_tx.send(target).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        }
        .await;
        drop(target_tx);
        if let Err(error) = failure {
            let _ = enumerate_results
                .send(ItemResult {
                    workspace_id: workspace_id.clone(),
                    item_id: None,
                    item_type: item_type.clone(),
                    display_name: None,
                    outcome: Err(error),
                })
                .await;
        }
    };
    let work = async move {
        tokio::join!(enumerate, drive(client, target_rx, concurrency, result_tx));
    };
    (work, result_rx)
}
