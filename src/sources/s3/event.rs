//! S3 event notification messages as an SQS queue receives them (wire format, pure): the
//! objects an `ObjectCreated:*` event names, a `s3:TestEvent`, or why a body is not one.
//! Also the same event wrapped in an SNS notification (bucket -> SNS topic -> SQS queue).
//! Format: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>

use serde::Deserialize;

/// One object an event says was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub bucket: String,
    /// Decoded: the event carries it URL-encoded, with `+` for a space.
    pub key: String,
    /// `eventTime`, ms since the epoch.
    pub time_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Objects created (other event types in the same message are left out).
    Created(Vec<Created>),
    /// What S3 sends when a notification is configured.
    Test,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    #[serde(rename = "Event")]
    event: Option<String>,
    /// SNS: `Type` = `Notification` and the S3 event as a JSON string in `Message`.
    #[serde(rename = "Type")]
    sns_type: Option<String>,
    #[serde(rename = "Message")]
    sns_message: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    #[serde(rename = "eventTime")]
    event_time: Option<String>,
    s3: Option<S3>,
}

#[derive(Deserialize)]
struct S3 {
    bucket: Named,
    object: Object,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Object {
    key: String,
}

/// Parses one SQS message body; the error is the reason it is dropped (a metric label).
pub fn parse(body: &str) -> Result<Message, &'static str> {
    let env: Envelope = serde_json::from_str(body).map_err(|_| "not_json")?;
    if env.sns_type.as_deref() == Some("Notification") {
        let inner = env.sns_message.ok_or("no_records")?;
        // One level only: an SNS message that wraps SNS again is not an S3 event.
        let env: Envelope = serde_json::from_str(&inner).map_err(|_| "not_json")?;
        return records(env);
    }
    records(env)
}

fn records(env: Envelope) -> Result<Message, &'static str> {
    if env.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Message::Test);
    }
    let records = env.records.ok_or("no_records")?;
    let mut out = Vec::new();
    for r in records {
        if !r.event_name.starts_with("ObjectCreated:") {
            continue;
        }
        let s3 = r.s3.ok_or("no_object")?;
        out.push(Created {
            bucket: s3.bucket.name,
            key: url_decode(&s3.object.key).ok_or("bad_key")?,
            time_ms: r
                .event_time
                .as_deref()
                .and_then(crate::timefmt::parse_timestamp)
                .map(|s| s * 1000),
        });
    }
    Ok(Message::Created(out))
}

/// `application/x-www-form-urlencoded` decoding, as S3 encodes keys in events.
fn url_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, key: &str) -> String {
        format!(
            r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"2026-11-30T10:00:01.123Z","eventName":"{name}",
            "s3":{{"s3SchemaVersion":"1.0","bucket":{{"name":"logs-bucket","arn":"arn:aws:s3:::logs-bucket"}},
            "object":{{"key":"{key}","size":10,"eTag":"x","sequencer":"0A"}}}}}}]}}"#
        )
    }

    #[test]
    fn object_created_events_name_their_objects_with_the_key_decoded() {
        let m = parse(&event("ObjectCreated:Put", "my+logs/a%2Bb%3D.json.gz")).unwrap();
        assert_eq!(
            m,
            Message::Created(vec![Created {
                bucket: "logs-bucket".into(),
                key: "my logs/a+b=.json.gz".into(),
                time_ms: Some(
                    crate::timefmt::parse_timestamp("2026-11-30T10:00:01Z").unwrap() * 1000
                ),
            }])
        );
        // Other events in a message are not objects to read.
        assert_eq!(
            parse(&event("ObjectRemoved:Delete", "k")).unwrap(),
            Message::Created(vec![])
        );
    }

    #[test]
    fn test_events_and_sns_wrapped_events() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-30T10:00:00.000Z","Bucket":"b","RequestId":"r","HostId":"h"}"#;
        assert_eq!(parse(test), Ok(Message::Test));
        let inner = event("ObjectCreated:CompleteMultipartUpload", "k.json.gz");
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "m",
            "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": inner})
        .to_string();
        match parse(&sns).unwrap() {
            Message::Created(c) => assert_eq!(c[0].key, "k.json.gz"),
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn malformed_bodies_say_why() {
        assert_eq!(parse("not json"), Err("not_json"));
        assert_eq!(parse("{}"), Err("no_records"));
        assert_eq!(
            parse(r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#),
            Err("no_object")
        );
        assert_eq!(parse(&event("ObjectCreated:Put", "bad%zz")), Err("bad_key"));
        assert_eq!(parse(&event("ObjectCreated:Put", "cut%2")), Err("bad_key"));
        assert_eq!(
            parse(r#"{"Type":"Notification","Message":"oops"}"#),
            Err("not_json")
        );
    }
}
