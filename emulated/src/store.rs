//! A call's data through a store (`proto::store`): its inputs read (and deleted) before its work, its
//! outputs written after, on a Redis server: one multiplexed connection per function and store, made on
//! the function's runtime (a connection's task lives on the runtime that made it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proto::store::StoreOps;
use redis::aio::MultiplexedConnection;

/// How long an output lives unread: its consumer deletes it on reading, but one whose consumer is
/// never called (a failure upstream) would otherwise stay.
const LEFTOVER_TTL_S: u64 = 3600;

/// How long connecting to a store may take before the call fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A function's connections to stores, by URL.
#[derive(Default)]
pub(crate) struct Stores(Mutex<HashMap<String, MultiplexedConnection>>);

/// The store's connection, made on first use.
async fn connection(stores: &Stores, url: &str) -> Result<MultiplexedConnection, String> {
    let table = &stores.0;
    if let Some(c) = table.lock().map_err(|_| "poisoned".to_owned())?.get(url) {
        return Ok(c.clone());
    }
    let client = redis::Client::open(url).map_err(|e| format!("store `{url}`: {e}"))?;
    let made = tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .map_err(|_| format!("store `{url}`: no connection within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("store `{url}`: {e}"))?;
    // Two calls may have connected at once: the first kept is the one used from then on.
    let mut table = table.lock().map_err(|_| "poisoned".to_owned())?;
    Ok(table.entry(url.to_owned()).or_insert(made).clone())
}

/// Reads and deletes the call's inputs; how long it took. An input that is not there, or not of its
/// size, fails the call naming its key.
pub(crate) async fn read_inputs(stores: &Stores, ops: &StoreOps) -> Result<Duration, String> {
    if ops.get.is_empty() {
        return Ok(Duration::ZERO);
    }
    let started = Instant::now();
    let mut c = connection(stores, &ops.url).await?;
    let mut pipe = redis::pipe();
    for object in &ops.get {
        pipe.cmd("GETDEL").arg(&object.key);
    }
    let values: Vec<Option<Vec<u8>>> = pipe
        .query_async(&mut c)
        .await
        .map_err(|e| format!("store `{}`: reading inputs: {e}", ops.url))?;
    for (object, value) in ops.get.iter().zip(&values) {
        match value {
            None => {
                return Err(format!(
                    "store `{}`: input `{}` is not there",
                    ops.url, object.key
                ))
            }
            Some(v) if v.len() as u64 != object.bytes => {
                return Err(format!(
                    "store `{}`: input `{}` holds {} bytes, not {}",
                    ops.url,
                    object.key,
                    v.len(),
                    object.bytes
                ))
            }
            Some(_) => {}
        }
    }
    Ok(started.elapsed())
}

/// Writes the call's outputs, each of its size; how long it took.
pub(crate) async fn write_outputs(stores: &Stores, ops: &StoreOps) -> Result<Duration, String> {
    if ops.put.is_empty() {
        return Ok(Duration::ZERO);
    }
    let started = Instant::now();
    let mut c = connection(stores, &ops.url).await?;
    let mut pipe = redis::pipe();
    for object in &ops.put {
        pipe.cmd("SET")
            .arg(&object.key)
            .arg(vec![b'x'; object.bytes as usize])
            .arg("EX")
            .arg(LEFTOVER_TTL_S)
            .ignore();
    }
    pipe.query_async::<()>(&mut c)
        .await
        .map_err(|e| format!("store `{}`: writing outputs: {e}", ops.url))?;
    Ok(started.elapsed())
}
