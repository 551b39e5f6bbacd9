//! S3 event notifications from an SQS queue: long-polls ReceiveMessage, hands the created
//! objects to the S3 source that owns their bucket and prefix, and deletes the messages only
//! once that source answers that their objects are committed. A message left undeleted
//! comes back after its visibility timeout; an object read twice is skipped by the read keys.
//! Test events and malformed messages are counted and deleted (they can never succeed).
//! API: <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html>

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use prometheus::IntCounterVec;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::event::{self, Message};
use super::layout::{self, Kind};
use super::Notified;

pub const SOURCE: &str = "s3_sqs";
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where the objects of one `s3://bucket/prefix/` go.
pub struct Route {
    pub bucket: String,
    pub prefix: String,
    pub tx: mpsc::Sender<Notified>,
}

pub struct SqsSource {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub routes: Vec<Route>,
    /// Long-poll wait (at most 20 s).
    pub wait: Duration,
    pub notifications: IntCounterVec,
    pub errors: IntCounterVec,
}

/// What one received message asks for.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Delete it now, counted under this result.
    Drop(&'static str),
    /// Per route index, the keys to read; delete once all are committed.
    Read(Vec<(usize, String)>),
}

fn plan(body: &str, routes: &[(String, String)]) -> Plan {
    match event::parse(body) {
        Err(reason) => Plan::Drop(reason),
        Ok(Message::Test) => Plan::Drop("test_event"),
        Ok(Message::Created(objects)) => {
            let mut keys = Vec::new();
            for o in objects {
                let route = routes.iter().position(|(b, p)| {
                    *b == o.bucket
                        && layout::parse_key(p, &o.key).is_some_and(|k| k.kind == Kind::Records)
                });
                if let Some(r) = route {
                    keys.push((r, o.key));
                }
            }
            if keys.is_empty() {
                Plan::Drop("ignored")
            } else {
                Plan::Read(keys)
            }
        }
    }
}

impl SqsSource {
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Duration::from_secs(1);
        let mut failing = false;
        let mut warned: HashSet<&'static str> = HashSet::new();
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.client.receive_message()
                    .queue_url(&self.queue_url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(self.wait.as_secs().min(20) as i32)
                    .send() => r,
            };
            let messages = match received {
                Ok(out) => {
                    if failing {
                        tracing::info!("receiving from {} works again", self.queue_url);
                    }
                    failing = false;
                    backoff = Duration::from_secs(1);
                    out.messages.unwrap_or_default()
                }
                Err(e) => {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    let kind = match (e.code(), status) {
                        (Some(c), _) if c.contains("AccessDenied") => "denied",
                        (_, Some(s)) if s >= 500 => "server",
                        (Some(_), _) | (_, Some(_)) => "client",
                        (None, None) => "network",
                    };
                    self.errors.with_label_values(&[SOURCE, kind]).inc();
                    if !failing {
                        tracing::warn!(
                            "ReceiveMessage on {} failed: {}; retrying with backoff",
                            self.queue_url,
                            DisplayErrorContext(&e)
                        );
                    }
                    failing = true;
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            if !self.handle(messages, &mut warned, &stop).await {
                return;
            }
        }
    }

    /// Handles one receive's messages; false when the daemon is stopping.
    async fn handle(
        &self,
        messages: Vec<aws_sdk_sqs::types::Message>,
        warned: &mut HashSet<&'static str>,
        stop: &CancellationToken,
    ) -> bool {
        let routes: Vec<(String, String)> = self
            .routes
            .iter()
            .map(|r| (r.bucket.clone(), r.prefix.clone()))
            .collect();
        let mut to_read: Vec<Vec<String>> = vec![Vec::new(); self.routes.len()];
        let mut deletable = Vec::new();
        let mut pending = Vec::new();
        for m in &messages {
            let Some(handle) = m.receipt_handle() else {
                continue;
            };
            match plan(m.body().unwrap_or(""), &routes) {
                Plan::Drop(result) => {
                    self.notifications.with_label_values(&[result]).inc();
                    if result != "test_event" && result != "ignored" && warned.insert(result) {
                        tracing::warn!(
                            "dropping a message from {} that is not an S3 event notification ({result})",
                            self.queue_url
                        );
                    }
                    deletable.push(handle.to_string());
                }
                Plan::Read(keys) => {
                    for (r, k) in keys {
                        to_read[r].push(k);
                    }
                    pending.push(handle.to_string());
                }
            }
        }
        // One request per source for the whole receive: its objects commit in few batches.
        let mut answers = Vec::new();
        for (route, keys) in self.routes.iter().zip(to_read) {
            if keys.is_empty() {
                continue;
            }
            let (done, answer) = oneshot::channel();
            if route.tx.send(Notified { keys, done }).await.is_err() {
                return false;
            }
            answers.push(answer);
        }
        let mut all_ok = true;
        for a in answers {
            tokio::select! {
                _ = stop.cancelled() => return false,
                r = a => all_ok &= r.unwrap_or(false),
            }
        }
        let result = if all_ok { "objects" } else { "retried" };
        self.notifications
            .with_label_values(&[result])
            .inc_by(pending.len() as u64);
        if all_ok {
            deletable.extend(pending);
        }
        for handle in deletable {
            if let Err(e) = self
                .client
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(handle)
                .send()
                .await
            {
                // It comes back after its visibility timeout, and is then skipped as read.
                self.errors.with_label_values(&[SOURCE, "delete"]).inc();
                tracing::warn!(
                    "DeleteMessage on {} failed: {}",
                    self.queue_url,
                    DisplayErrorContext(&e)
                );
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(bucket: &str, key: &str) -> String {
        serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})
        .to_string()
    }

    #[test]
    fn messages_go_to_the_source_of_their_bucket_and_prefix() {
        let routes = [
            ("a".to_string(), "logs/".to_string()),
            ("b".to_string(), String::new()),
        ];
        let hour = "AWSLogs/1/BedrockModelInvocationLogs/us-east-1/2026/11/30/10/";
        let key = format!("logs/{hour}x.json.gz");
        assert_eq!(
            plan(&created("a", &key), &routes),
            Plan::Read(vec![(0, key.clone())])
        );
        assert_eq!(
            plan(&created("b", &format!("{hour}y.json.gz")), &routes),
            Plan::Read(vec![(1, format!("{hour}y.json.gz"))])
        );
        // Another bucket, another prefix, a large body: nothing to read.
        assert_eq!(plan(&created("c", &key), &routes), Plan::Drop("ignored"));
        assert_eq!(
            plan(&created("a", &format!("other/{hour}x.json.gz")), &routes),
            Plan::Drop("ignored")
        );
        assert_eq!(
            plan(
                &created("a", &format!("logs/{hour}data/r_input.json.gz")),
                &routes
            ),
            Plan::Drop("ignored")
        );
        assert_eq!(
            plan(r#"{"Event":"s3:TestEvent"}"#, &routes),
            Plan::Drop("test_event")
        );
        assert_eq!(plan("{", &routes), Plan::Drop("not_json"));
    }
}
