//! Alerting state in the store: open alerts, the durable outbox, the inventory event cursor and
//! disabled webhooks. A state change and the deliveries it causes commit in one transaction and
//! are flushed before anything is sent, so an alert is never lost between the two.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{Store, StoreError, codec};
use crate::model::{AlertEvent, Delivery, DeliveryState, InventoryEvent, OpenAlert, UnixSeconds};

const CURSOR: &[u8] = b"event_cursor";
const OUTAGE: &[u8] = b"store_outage";
const NODES_DOWN: &[u8] = b"nodes_down";
const DISABLED_PREFIX: &str = "disabled:";

/// This node cannot reach the fleet's store and is the node that reports it: the condition
/// behind the `store_unreachable` alert, kept here (in the node's own store) because the
/// fleet's store is the thing that is gone. Store-owned; its encoding is frozen (postcard, in
/// field order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreOutage {
    /// The fleet store, as `user@host:port/db` (never the password).
    pub store: String,
    /// This node's name.
    pub node: String,
    /// When this node lost the store.
    pub since: UnixSeconds,
    /// The last error it got.
    pub error: String,
}

/// A fleet node that stopped heartbeating without leaving, as this node last saw it: the
/// condition behind the `node_down` alert. Store-owned; its encoding is frozen (postcard, in
/// field order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeDown {
    pub name: String,
    /// Its last heartbeat.
    pub last_seen: UnixSeconds,
}

/// Changes from one alert evaluation, committed together.
#[derive(Debug, Default)]
pub struct AlertCommit {
    pub upsert: Vec<OpenAlert>,
    pub remove: Vec<String>,
    /// (webhook name, event) pairs to queue.
    pub deliveries: Vec<(String, AlertEvent)>,
    /// The last inventory event processed.
    pub cursor: Option<u64>,
}

impl Store {
    pub fn open_alerts(&self) -> Result<Vec<OpenAlert>, StoreError> {
        let mut out = Vec::new();
        for item in self.alerts.iter() {
            let (k, v) = item.map_err(self.sled_err("reading alerts"))?;
            out.push(self.decode("alerts", &k, &v)?);
        }
        Ok(out)
    }

    /// The sequence number of the last inventory event already turned into alerts.
    pub fn event_cursor(&self) -> Result<Option<u64>, StoreError> {
        let value = self
            .alert_meta
            .get(CURSOR)
            .map_err(self.sled_err("reading the event cursor"))?;
        Ok(value
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    /// The fleet store outage this node reports, if any (see [`StoreOutage`]).
    pub fn store_outage(&self) -> Result<Option<StoreOutage>, StoreError> {
        let value = self
            .alert_meta
            .get(OUTAGE)
            .map_err(self.sled_err("reading the store outage"))?;
        value
            .map(|v| self.decode("alert_meta", OUTAGE, &v))
            .transpose()
    }

    /// Records (or, with `None`, ends) the fleet store outage this node reports; flushed.
    pub fn set_store_outage(&self, outage: Option<&StoreOutage>) -> Result<(), StoreError> {
        match outage {
            Some(o) => self.alert_meta.insert(OUTAGE, codec::put(o)).map(drop),
            None => self.alert_meta.remove(OUTAGE).map(drop),
        }
        .map_err(self.sled_err("recording the store outage"))?;
        self.flush()
    }

    /// The fleet nodes this node last saw down (see [`NodeDown`]), by name.
    pub fn nodes_down(&self) -> Result<Vec<NodeDown>, StoreError> {
        let value = self
            .alert_meta
            .get(NODES_DOWN)
            .map_err(self.sled_err("reading the nodes down"))?;
        Ok(value
            .map(|v| self.decode("alert_meta", NODES_DOWN, &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Records the fleet nodes this node sees down now; flushed.
    pub fn set_nodes_down(&self, down: &[NodeDown]) -> Result<(), StoreError> {
        self.alert_meta
            .insert(NODES_DOWN, codec::put(&down.to_vec()))
            .map_err(self.sled_err("recording the nodes down"))?;
        self.flush()
    }

    /// Inventory events after `cursor` (all of them when `None`), oldest first.
    pub fn events_since(
        &self,
        cursor: Option<u64>,
    ) -> Result<Vec<(u64, InventoryEvent)>, StoreError> {
        let start = cursor.map_or(0, |c| c + 1);
        let mut out = Vec::new();
        for item in self.events.range(start.to_be_bytes()..) {
            let (k, v) = item.map_err(self.sled_err("reading events"))?;
            let seq = <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            out.push((seq, self.decode("events", &k, &v)?));
        }
        Ok(out)
    }

    /// Commits an evaluation: alert state, new deliveries and the cursor, atomically; flushed.
    pub fn commit_alerts(&self, commit: &AlertCommit, now: UnixSeconds) -> Result<(), StoreError> {
        let result: Result<(), TransactionError<()>> =
            (&self.alerts, &self.outbox, &self.alert_meta).transaction(|(alerts, outbox, meta)| {
                for alert in &commit.upsert {
                    alerts.insert(alert.key.as_bytes(), codec::put(alert))?;
                }
                for key in &commit.remove {
                    alerts.remove(key.as_bytes())?;
                }
                for (webhook, event) in &commit.deliveries {
                    let id = outbox.generate_id()?;
                    let delivery = Delivery {
                        id,
                        webhook: webhook.clone(),
                        event: event.clone(),
                        created_at: now,
                        attempts: 0,
                        next_attempt_at: now,
                        state: DeliveryState::Pending,
                        last_error: None,
                        last_status: None,
                    };
                    outbox.insert(&id.to_be_bytes(), codec::put(&delivery))?;
                }
                if let Some(cursor) = commit.cursor {
                    meta.insert(CURSOR, &cursor.to_be_bytes())?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            });
        result.map_err(|e| self.transaction_error(e, "alerts", "committing alerts"))?;
        self.flush()
    }

    pub(super) fn transaction_error(
        &self,
        e: TransactionError<()>,
        tree: &'static str,
        action: &'static str,
    ) -> StoreError {
        match e {
            TransactionError::Storage(source) => StoreError::sled(&self.path, action, source),
            TransactionError::Abort(()) => StoreError::Corrupt {
                path: self.path.clone(),
                tree,
                key: String::new(),
                reason: "transaction aborted".into(),
            },
        }
    }

    /// Up to `limit` pending deliveries whose time has come, oldest first. Reads the queue
    /// lazily, so memory stays bounded however long it is.
    pub fn due_deliveries(
        &self,
        now: UnixSeconds,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut out = Vec::new();
        for item in self.outbox.iter() {
            let (k, v) = item.map_err(self.sled_err("reading the outbox"))?;
            let d: Delivery = self.decode("outbox", &k, &v)?;
            if d.state == DeliveryState::Pending && d.next_attempt_at <= now {
                out.push(d);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Deliveries still queued or dead (up to `limit`), and how many there are in all.
    pub fn deliveries(&self, limit: usize) -> Result<(Vec<Delivery>, usize), StoreError> {
        let mut out = Vec::new();
        for item in self.outbox.iter().take(limit) {
            let (k, v) = item.map_err(self.sled_err("reading the outbox"))?;
            out.push(self.decode("outbox", &k, &v)?);
        }
        Ok((out, self.outbox.len()))
    }

    pub fn delivery(&self, id: u64) -> Result<Option<Delivery>, StoreError> {
        match self
            .outbox
            .get(id.to_be_bytes())
            .map_err(self.sled_err("reading the outbox"))?
        {
            Some(v) => Ok(Some(self.decode("outbox", &id.to_be_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// Records the result of attempts: delivered ones are removed, others rewritten. Flushed.
    pub fn settle_deliveries(
        &self,
        delivered: &[u64],
        updated: &[Delivery],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for id in delivered {
            batch.remove(&id.to_be_bytes());
        }
        for d in updated {
            batch.insert(&d.id.to_be_bytes(), codec::put(d));
        }
        self.outbox
            .apply_batch(batch)
            .map_err(self.sled_err("updating the outbox"))?;
        self.flush()
    }

    /// Marks a webhook disabled (after HTTP 410), with the reason.
    pub fn disable_webhook(&self, name: &str, reason: &str) -> Result<(), StoreError> {
        self.alert_meta
            .insert(format!("{DISABLED_PREFIX}{name}"), reason.as_bytes())
            .map_err(self.sled_err("disabling a webhook"))?;
        self.flush()
    }

    pub fn enable_webhook(&self, name: &str) -> Result<bool, StoreError> {
        let was = self
            .alert_meta
            .remove(format!("{DISABLED_PREFIX}{name}"))
            .map_err(self.sled_err("enabling a webhook"))?;
        self.flush()?;
        Ok(was.is_some())
    }

    /// Disabled webhooks and why.
    pub fn disabled_webhooks(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for item in self.alert_meta.scan_prefix(DISABLED_PREFIX) {
            let (k, v) = item.map_err(self.sled_err("reading webhook state"))?;
            let name = String::from_utf8_lossy(&k[DISABLED_PREFIX.len()..]).into_owned();
            out.push((name, String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }
}
