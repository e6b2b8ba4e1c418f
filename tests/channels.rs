//! Native channels end to end, on both backends. A demo server goes down; receivers on
//! loopback check the Slack, Teams and PagerDuty payloads for the fields each service
//! documents, and a real SMTP server (aiosmtpd, STARTTLS and TLS, signed in, with a CA of
//! the test's own) receives the mail. Acknowledging reaches PagerDuty under the trigger's
//! dedup key, and so does the resolve; an SMTP server that never answers, or refuses the
//! password, fails its own sends only, with the reason.
use crate::common;

use common::{
    BACKENDS, Backend, Receivers, TestApp, TestDb, eventually, post_form, spawn_app_with,
};
use mcpops::domain::alerts::{AlertState, RuleKind};
use mcpops::domain::auth::Role;
use mcpops::domain::demo::DemoFault;
use mcpops::server::demo::DemoFleet;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

const ROUTING_KEY: &str = "R0123456789abcdef0123456789ABCDE";
const SMTP_USER: &str = "mcpops";
const SMTP_PASSWORD: &str = "mail-s3cret";
const CONSOLE: &str = "http://console.test";

/// An aiosmtpd server of `tests/receivers/smtp_sink.py`, and the mail it has printed.
struct SmtpSink {
    port: u16,
    mail: Arc<Mutex<Vec<Value>>>,
    _process: tokio::process::Child,
}

impl SmtpSink {
    async fn start(mode: &str, cert: &std::path::Path, key: &std::path::Path) -> Self {
        let python = std::env::var("MCPOPS_TEST_PYTHON").unwrap_or_else(|_| {
            panic!("MCPOPS_TEST_PYTHON is not set: run scripts/test.sh, which installs aiosmtpd")
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receivers/smtp_sink.py");
        let mut process = tokio::process::Command::new(python)
            .arg(script)
            .arg(mode)
            .arg(cert)
            .arg(key)
            .arg(SMTP_USER)
            .arg(SMTP_PASSWORD)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the SMTP sink starts");
        let mut lines = tokio::io::BufReader::new(process.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the SMTP sink says its port in time")
            .expect("read")
            .expect("a first line");
        let port: Value = serde_json::from_str(&first).expect("json");
        let port = u16::try_from(port["port"].as_u64().expect("port")).expect("u16");
        let mail = Arc::new(Mutex::new(Vec::new()));
        let kept = mail.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(message) = serde_json::from_str(&line) {
                    kept.lock().expect("lock").push(message);
                }
            }
        });
        Self {
            port,
            mail,
            _process: process,
        }
    }

    fn with_subject(&self, prefix: &str) -> Vec<Value> {
        self.mail
            .lock()
            .expect("lock")
            .iter()
            .filter(|m| m["subject"].as_str().is_some_and(|s| s.starts_with(prefix)))
            .cloned()
            .collect()
    }
}

/// A CA of the test's own (written to `ca.pem`) and a certificate for 127.0.0.1 it signed.
fn certificates(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{CertificateParams, KeyPair};
    let ca = common::test_ca("mcpops test mail CA");
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    let certificate = params.signed_by(&key, &ca).expect("signed");
    let (ca_file, cert_file, key_file) = (
        dir.join("ca.pem"),
        dir.join("mail.pem"),
        dir.join("mail.key"),
    );
    std::fs::write(&ca_file, ca.pem()).expect("write ca");
    std::fs::write(&cert_file, certificate.pem()).expect("write cert");
    std::fs::write(&key_file, key.serialize_pem()).expect("write key");
    (ca_file.to_string_lossy().into_owned(), cert_file, key_file)
}

async fn create_channel(app: &TestApp, fields: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("min_severity", "info")];
    form.extend_from_slice(fields);
    post_form(app, &app.client, "/api/channels/create", &form).await
}

/// The fields of an email channel that signs in to `url`.
fn mail_channel<'a>(name: &'a str, url: &'a str, to: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("kind", "email"),
        ("url", url),
        ("smtp_user", SMTP_USER),
        ("secret", SMTP_PASSWORD),
        ("email_from", "mcpops@example.com"),
        ("email_to", to),
    ]
}

#[tokio::test]
async fn slack_teams_pagerduty_and_email_are_paged_acknowledged_and_resolved() {
    for backend in BACKENDS {
        native_channels(backend).await;
    }
}

async fn native_channels(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (ca_file, cert, key) = certificates(dir.path());
    let starttls = SmtpSink::start("starttls", &cert, &key).await;
    let tls = SmtpSink::start("tls", &cert, &key).await;
    let silent = common::silent_listener().await;
    let (receivers, hooks) = Receivers::start().await;

    let db = TestDb::new(backend).await;
    let fleet = Arc::new(DemoFleet::start(2).await.expect("fleet"));
    let app = spawn_app_with(db.url(), Some(fleet.clone()), |config| {
        config.demo.interval_secs = 1;
        config.alerts.min_firing_secs = 0;
        config.alerts.retry_base_ms = 50;
        config.alerts.retry_cap_ms = 200;
        config.alerts.webhook_attempts = 2;
        config.alerts.webhook_timeout_ms = 1_000;
        config.alerts.console_url = CONSOLE.into();
        config.alerts.smtp_ca_file = ca_file;
    })
    .await;

    // Bad input is refused field by field, the secret never echoed.
    let (status, body) = create_channel(
        &app,
        &[
            ("name", "pd"),
            ("kind", "pagerduty"),
            ("secret", "not-a-key"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{backend:?}: {body}");
    let reason = body["Invalid"]["secret"].as_str().unwrap_or_default();
    assert!(reason.contains("32"), "{reason}");
    assert!(!body.to_string().contains("not-a-key"), "{body}");
    let (status, body) = create_channel(
        &app,
        &[
            ("name", "mail"),
            ("kind", "email"),
            ("url", "http://mail.example.com"),
            ("email_to", "nobody"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    for field in ["url", "email_from", "email_to"] {
        assert!(body["Invalid"][field].is_string(), "{field}: {body}");
    }

    let slack = format!("http://{hooks}/slack/T0-B0-XSECRETX");
    let teams = format!("http://{hooks}/teams/workflow-XSECRETX");
    let pagerduty = format!("http://{hooks}/pagerduty/enqueue");
    let starttls_url = format!("smtp://127.0.0.1:{}", starttls.port);
    let tls_url = format!("smtps://127.0.0.1:{}", tls.port);
    let silent_url = format!("smtp://{silent}");
    let gone = format!("http://{hooks}/no/such/hook");
    let channels: Vec<Vec<(&str, &str)>> = vec![
        vec![("name", "slack"), ("kind", "slack"), ("url", &slack)],
        vec![("name", "gone"), ("kind", "webhook"), ("url", &gone)],
        vec![("name", "teams"), ("kind", "teams"), ("url", &teams)],
        vec![
            ("name", "pagerduty"),
            ("kind", "pagerduty"),
            ("url", &pagerduty),
            ("secret", ROUTING_KEY),
        ],
        mail_channel("mail-starttls", &starttls_url, "oncall@example.com"),
        mail_channel("mail-tls", &tls_url, "oncall@example.com, lead@example.com"),
        mail_channel("mail-silent", &silent_url, "void@example.com"),
        mail_channel("mail-wrong-password", &starttls_url, "void@example.com")
            .into_iter()
            .map(|(k, v)| if k == "secret" { (k, "guess") } else { (k, v) })
            .collect(),
    ];
    for fields in &channels {
        let (status, body) = create_channel(&app, fields).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        let shown = body.to_string();
        for secret in ["XSECRETX", ROUTING_KEY, SMTP_PASSWORD] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
    }

    // The test send reaches PagerDuty as a trigger and its resolve, leaving nothing open.
    let listed = app.state.store.channels().await.expect("channels");
    let pd_id = listed
        .iter()
        .find(|(c, _)| c.name == "pagerduty")
        .map(|(c, _)| c.id.to_string())
        .expect("pagerduty channel");
    let (status, body) =
        post_form(&app, &app.client, "/api/channels/test", &[("id", &pd_id)]).await;
    assert_eq!(status, 200, "{body}");
    let test_events = receivers.of("pagerduty");
    let actions: Vec<&str> = test_events
        .iter()
        .filter_map(|e| e["event_action"].as_str())
        .collect();
    assert_eq!(actions, ["trigger", "resolve"]);
    assert_eq!(test_events[0]["dedup_key"], test_events[1]["dedup_key"]);
    let mail_id = listed
        .iter()
        .find(|(c, _)| c.name == "mail-starttls")
        .map(|(c, _)| c.id.to_string())
        .expect("mail channel");
    let (status, body) =
        post_form(&app, &app.client, "/api/channels/test", &[("id", &mail_id)]).await;
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(5), "the test mail", || async {
        (starttls.with_subject("[TEST] info · mcpops").len() == 1).then_some(())
    })
    .await;

    fleet
        .set_fault("demo-01", DemoFault::Down, true)
        .await
        .expect("fault");
    let alert = eventually(Duration::from_secs(30), "demo-01 down firing", || async {
        common::alert_on(&app, "demo-01", RuleKind::TargetDown)
            .await
            .filter(|a| a.state == AlertState::Firing)
    })
    .await;
    let link = format!("{CONSOLE}/alerts/{}", alert.id);

    // PagerDuty: a trigger with the documented fields, keyed to this alert.
    let trigger = eventually(Duration::from_secs(10), "the PagerDuty trigger", || async {
        receivers
            .of("pagerduty")
            .into_iter()
            .find(|e| e["event_action"] == "trigger" && e["payload"]["class"] == "target_down")
    })
    .await;
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    assert_eq!(trigger["payload"]["source"], "demo-01");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("demo-01: ")),
        "{trigger}"
    );
    assert_eq!(trigger["links"][0]["href"], link.as_str());
    let dedup_key = trigger["dedup_key"].as_str().expect("dedup key").to_owned();

    // Slack: Block Kit with an acknowledge button; Teams: one Adaptive Card.
    let slack_message = eventually(Duration::from_secs(10), "the Slack message", || async {
        receivers.of("slack").into_iter().find(|m| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("[FIRING]") && t.contains("demo-01"))
                && m["blocks"].to_string().contains("target_down")
        })
    })
    .await;
    let blocks = slack_message["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header");
    let actions = blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("an actions block");
    assert_eq!(
        actions["elements"][0]["url"],
        format!("{link}#acknowledge").as_str()
    );
    let card = eventually(Duration::from_secs(10), "the Teams card", || async {
        receivers.of("teams").into_iter().find(|m| {
            m["attachments"][0]["content"]
                .to_string()
                .contains("target_down")
                && m["attachments"][0]["content"]
                    .to_string()
                    .contains("FIRING")
        })
    })
    .await;
    assert_eq!(card["type"], "message");
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["attachments"][0]["content"]["type"], "AdaptiveCard");

    // Mail over STARTTLS and over TLS, signed in, to every recipient.
    for (sink, recipients) in [
        (&starttls, vec!["oncall@example.com"]),
        (&tls, vec!["oncall@example.com", "lead@example.com"]),
    ] {
        let message = eventually(Duration::from_secs(10), "the page mail", || async {
            sink.with_subject("[FIRING] critical · demo-01")
                .into_iter()
                .find(|m| {
                    m["body"]
                        .as_str()
                        .is_some_and(|b| b.contains("target_down"))
                })
        })
        .await;
        assert_eq!(message["tls"], true, "{message}");
        assert_eq!(message["authenticated"], true, "{message}");
        assert_eq!(message["rcpt_tos"], serde_json::json!(recipients));
        let body = message["body"].as_str().unwrap_or_default();
        assert!(
            body.contains(&format!("Acknowledge: {link}#acknowledge")),
            "{body}"
        );
    }

    // Acknowledged: PagerDuty hears it under the same key; chat shows who; mail stays quiet.
    let (operator, client) = app.signed_in(Role::Operator).await;
    let id = alert.id.to_string();
    let (status, body) = post_form(
        &app,
        &client,
        "/api/alerts/acknowledge",
        &[("id", &id), ("note", "restarting demo-01")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ack = eventually(
        Duration::from_secs(10),
        "the PagerDuty acknowledge",
        || async {
            receivers
                .of("pagerduty")
                .into_iter()
                .find(|e| e["event_action"] == "acknowledge")
        },
    )
    .await;
    assert_eq!(ack["dedup_key"], dedup_key.as_str());
    assert_eq!(ack["routing_key"], ROUTING_KEY);
    eventually(
        Duration::from_secs(10),
        "Slack told who acknowledged",
        || async {
            receivers.of("slack").into_iter().find(|m| {
                m["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("[ACKNOWLEDGED]"))
                    && m["blocks"]
                        .to_string()
                        .contains(&format!("acknowledged by {operator}: restarting demo-01"))
            })
        },
    )
    .await;

    // Resolved: the same key closes PagerDuty's incident, and mail says so.
    fleet
        .set_fault("demo-01", DemoFault::Down, false)
        .await
        .expect("clear fault");
    let resolve = eventually(Duration::from_secs(30), "the PagerDuty resolve", || async {
        receivers
            .of("pagerduty")
            .into_iter()
            .find(|e| e["event_action"] == "resolve" && e["dedup_key"] == dedup_key.as_str())
    })
    .await;
    assert!(resolve.get("payload").is_none(), "{resolve}");
    eventually(Duration::from_secs(10), "the resolution mail", || async {
        (!starttls
            .with_subject("[RESOLVED] critical · demo-01")
            .is_empty())
        .then_some(())
    })
    .await;
    assert!(
        starttls.with_subject("[ACKNOWLEDGED]").is_empty(),
        "inboxes are not told of acknowledgements"
    );

    // The alert's page lists every channel it went to; the silent server failed alone.
    let notified = eventually(
        Duration::from_secs(10),
        "every delivery recorded",
        || async {
            let (status, detail) =
                post_form(&app, &app.client, "/api/alerts/detail", &[("id", &id)]).await;
            assert_eq!(status, 200, "{detail}");
            let notified = detail["notified"].as_array().cloned().unwrap_or_default();
            let delivered = |channel: &str, event: &str| {
                notified.iter().any(|n| {
                    n["channel"] == channel
                        && n["delivery"]["event"] == event
                        && n["delivery"]["error"].is_null()
                })
            };
            let all = ["slack", "teams", "pagerduty", "mail-starttls", "mail-tls"]
                .iter()
                .all(|c| delivered(c, "firing") && delivered(c, "resolved"))
                && delivered("pagerduty", "acknowledged");
            all.then_some(notified)
        },
    )
    .await;
    assert!(
        notified
            .iter()
            .any(|n| n["channel"] == "pagerduty" && n["kind"] == "pagerduty"),
        "{notified:?}"
    );
    let silent_failures: Vec<&str> = notified
        .iter()
        .filter(|n| n["channel"] == "mail-silent")
        .filter_map(|n| n["delivery"]["error"].as_str())
        .collect();
    assert!(
        !silent_failures.is_empty() && silent_failures.iter().all(|e| e.contains("no answer")),
        "{backend:?}: {silent_failures:?}"
    );
    let refused: Vec<&str> = notified
        .iter()
        .filter(|n| n["channel"] == "mail-wrong-password")
        .filter_map(|n| n["delivery"]["error"].as_str())
        .collect();
    assert!(
        !refused.is_empty()
            && refused
                .iter()
                .all(|e| e.contains("refused: permanent error (535)")
                    && e.ends_with("(not retried)")),
        "{backend:?}: {refused:?}"
    );
    // Refusals are not retried: one attempt per notice.
    for channel in ["mail-wrong-password", "gone"] {
        let attempts: Vec<u64> = notified
            .iter()
            .filter(|n| n["channel"] == channel)
            .filter_map(|n| n["delivery"]["attempt"].as_u64())
            .collect();
        assert!(
            !attempts.is_empty() && attempts.iter().all(|a| *a == 1),
            "{backend:?} {channel}: {attempts:?}"
        );
    }
    assert!(notified.iter().any(
        |n| n["channel"] == "gone" && n["delivery"]["error"] == "HTTP status 404 (not retried)"
    ));
    let everything = serde_json::to_string(&notified).expect("json");
    for secret in ["XSECRETX", ROUTING_KEY, SMTP_PASSWORD] {
        assert!(!everything.contains(secret), "{secret} on the alert page");
    }
}

/// The paging issue's storm: 2,000 servers degrade at once. Each channel gets one notice
/// for the group within `group_wait`, listing every target; the on-call is paged once, and
/// the audit log gains two entries (the escalation opened, its level paged) and nothing for
/// notifying; when they recover, one resolution each. Every alert's page lists both notices.
#[tokio::test]
async fn a_fleet_wide_storm_is_one_notice_per_group() {
    for backend in BACKENDS {
        storm(backend).await;
    }
}

async fn storm(backend: Backend) {
    use mcpops::domain::notifications::NoticeEvent;
    const FLEET: usize = 2_000;
    let (receivers, hooks) = Receivers::start().await;
    let db = TestDb::new(backend).await;
    let app = spawn_app_with(db.url(), None, |config| {
        // The alerts are made below as the engine makes them; nothing is polled.
        config.collector.enabled = false;
        config.alerts.enabled = false;
        config.alerts.group_wait_secs = 3;
        config.alerts.group_interval_secs = 2;
    })
    .await;
    for (name, kind) in [("hook", "webhook"), ("chat", "slack")] {
        let url = format!("http://{hooks}/{kind}/x");
        let (status, body) =
            create_channel(&app, &[("name", name), ("kind", kind), ("url", &url)]).await;
        assert_eq!(status, 200, "{body}");
    }
    let (oncall, phone) = app.signed_in(Role::Operator).await;
    let pager = format!("http://{hooks}/pager/x");
    let contact = [
        ("label", "phone"),
        ("kind", "webhook"),
        ("url", pager.as_str()),
    ];
    let (status, body) = post_form(&app, &phone, "/api/paging/contacts/add", &contact).await;
    assert_eq!(status, 200, "{body}");
    let policy = [
        ("name", "everyone"),
        ("min_severity", "warning"),
        ("who1", oncall.as_str()),
        ("wait1", "1h"),
    ];
    let (status, body) = post_form(&app, &phone, "/api/paging/policies/create", &policy).await;
    assert_eq!(status, 200, "{body}");
    let store = app.state.store.as_ref();
    let mut alerts = Vec::with_capacity(FLEET);
    for i in 0..FLEET {
        let target = common::add_target(
            store,
            &format!("srv-{i:04}"),
            &format!("http://127.0.0.1:9/{i}"),
        )
        .await;
        let alert =
            common::open_test_alert(store, target.id, RuleKind::LatencyP95, AlertState::Firing)
                .await;
        alerts.push(alert);
    }
    let audit_before = db
        .count("SELECT COUNT(*) FROM audit_log")
        .await
        .expect("count");

    let notifier = app.state.alerts.notifier();
    let started = std::time::Instant::now();
    for alert in &alerts {
        notifier.send(alert, NoticeEvent::Firing, &[]);
    }
    let group = eventually(Duration::from_secs(10), "the group notice", || async {
        receivers.of("webhook").into_iter().next()
    })
    .await;
    let took = started.elapsed();
    // A moment more, in case a second notice were on its way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receivers.of("webhook").len(), 1, "{backend:?}: one notice");
    assert_eq!(receivers.of("slack").len(), 1, "{backend:?}: one message");
    eventually(Duration::from_secs(10), "the page", || async {
        receivers.of("pager").into_iter().next()
    })
    .await;
    let paged_after = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let paged = receivers.of("pager");
    assert_eq!(paged.len(), 1, "{backend:?}: the on-call paged once");
    assert!(
        paged[0]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("[everyone, level 1] 2000 alerts of latency_p95")),
        "{}",
        paged[0]
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(6),
        "{backend:?}: sent after {took:?}, group_wait is 3 s"
    );
    assert_eq!(group["event"], "firing");
    assert_eq!(group["target"], "2000 targets");
    assert_eq!(group["firing"].as_array().map(Vec::len), Some(FLEET));
    let slack = &receivers.of("slack")[0];
    assert!(
        slack["text"]
            .as_str()
            .is_some_and(|t| t.contains("srv-0009 and 1990 more (2000 firing)")),
        "{slack}"
    );
    let audit_after = db
        .count("SELECT COUNT(*) FROM audit_log")
        .await
        .expect("count");
    assert_eq!(
        audit_after - audit_before,
        2,
        "{backend:?}: the escalation opened and paged, and nothing for notifying"
    );

    // They recover: one resolution per channel, naming them all.
    for alert in &alerts {
        notifier.send(alert, NoticeEvent::Resolved, &[]);
    }
    let resolved = eventually(Duration::from_secs(10), "the group resolution", || async {
        receivers
            .of("webhook")
            .into_iter()
            .find(|n| n["event"] == "resolved")
    })
    .await;
    assert_eq!(resolved["resolved"].as_array().map(Vec::len), Some(FLEET));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receivers.of("webhook").len(), 2, "{backend:?}");

    // Each alert's page lists the group notices it was part of.
    let last = alerts.last().expect("alerts").id;
    let told = eventually(Duration::from_secs(10), "deliveries per alert", || async {
        let told = store.alert_deliveries(last).await.expect("deliveries");
        (told.len() == 4).then_some(told)
    })
    .await;
    let mut seen: Vec<(String, &str)> = told
        .iter()
        .map(|t| (t.channel.clone(), t.delivery.event.as_str()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("chat".to_owned(), "firing"),
            ("chat".to_owned(), "resolved"),
            ("hook".to_owned(), "firing"),
            ("hook".to_owned(), "resolved"),
        ],
        "{backend:?}"
    );
    println!(
        "{backend:?}: {FLEET} alerts → 1 notice per channel after {took:?}, the on-call paged once after {paged_after:?}"
    );
}

/// Declaring and resolving an incident tell the channels routed to its severity and its
/// targets' tags, under one dedup key; a channel for other tags hears nothing.
#[tokio::test]
async fn declaring_and_resolving_an_incident_notify_the_routed_channels() {
    for backend in BACKENDS {
        incident_notices(backend).await;
    }
}

async fn incident_notices(backend: Backend) {
    let (receivers, hooks) = Receivers::start().await;
    let db = TestDb::new(backend).await;
    let app = spawn_app_with(db.url(), None, |config| {
        config.collector.enabled = false;
        config.alerts.console_url = CONSOLE.into();
    })
    .await;
    for (name, tags) in [("edge", "edge"), ("core", "core")] {
        let url = format!("http://{hooks}/{name}/x");
        let (status, body) = create_channel(
            &app,
            &[
                ("name", name),
                ("kind", "webhook"),
                ("url", &url),
                ("tags", tags),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let spec = mcpops::domain::target::TargetSpec::from_form(
        "checkout",
        "http://127.0.0.1:9/mcp",
        "15",
        "edge, team:payments",
    )
    .expect("spec");
    app.state
        .store
        .insert_target(
            &spec,
            mcpops::domain::target::TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("target");
    let (status, incident) = post_form(
        &app,
        &app.client,
        "/api/incidents/declare",
        &[
            ("title", "Checkout failing"),
            ("severity", "critical"),
            ("targets", "checkout"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{incident}");
    let id = incident["id"].as_i64().expect("id");
    let declared = eventually(Duration::from_secs(10), "the declared notice", || async {
        receivers.of("edge").into_iter().next()
    })
    .await;
    assert_eq!(declared["event"], "declared", "{backend:?}: {declared}");
    assert_eq!(declared["severity"], "critical");
    assert_eq!(declared["target"], format!("incident #{id}").as_str());
    assert!(
        declared["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("Checkout failing: declared by ")),
        "{declared}"
    );
    assert_eq!(
        declared["link"],
        format!("{CONSOLE}/incidents/{id}").as_str()
    );

    let (status, body) = post_form(
        &app,
        &app.client,
        "/api/incidents/resolve",
        &[("incident_id", &id.to_string())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let resolved = eventually(Duration::from_secs(10), "the resolved notice", || async {
        receivers
            .of("edge")
            .into_iter()
            .find(|n| n["event"] == "resolved")
    })
    .await;
    assert_eq!(resolved["dedup_key"], declared["dedup_key"]);
    assert!(
        receivers.of("core").is_empty(),
        "{backend:?}: routed by tag"
    );
}
