//! Capacity planning on both backends: inputs measured from the rollups (checked against the
//! stored rows), each person's what-if inputs, refusals, and the CSV and chart routes.
use crate::common;

use common::{BACKENDS, post_form, spawn_app_with};
use mcpops::domain::auth::Role;
use mcpops::domain::capacity::percentile;
use mcpops::server::demo::DemoFleet;
use mcpops::server::store::SampleTable;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

fn input<'a>(view: &'a Value, key: &str) -> &'a Value {
    view["report"]["inputs"]
        .as_array()
        .and_then(|inputs| inputs.iter().find(|i| i["key"] == key))
        .unwrap_or_else(|| panic!("no input {key} in {view}"))
}

#[tokio::test]
async fn plans_come_from_measured_load_and_what_ifs_stay_personal() {
    for backend in BACKENDS {
        let db = common::TestDb::new(backend).await;
        let fleet = Arc::new(DemoFleet::start(3).await.expect("fleet"));
        // The demo's seeded month of history is what this test measures.
        let app = spawn_app_with(db.url(), Some(fleet.clone()), |c| {
            c.demo.seed_history = true;
        })
        .await;
        let (_, lead) = app.signed_in(Role::Viewer).await;
        let get = [("scope", "fleet"), ("window", "24h")];
        let (status, view) = post_form(&app, &lead, "/api/capacity/get", &get).await;
        assert_eq!(status, 200, "{backend:?}: {view}");

        // Peak rps is the p99 of per-minute traffic summed over the fleet: recompute it from
        // the stored minute rollups.
        let now = chrono::Utc::now();
        let rows = app
            .state
            .store
            .samples(
                SampleTable::Minute,
                None,
                now - chrono::Duration::hours(24),
                now,
            )
            .await
            .expect("rows");
        let mut per_minute: BTreeMap<i64, f64> = BTreeMap::new();
        for row in &rows {
            *per_minute.entry(row.at.timestamp()).or_default() +=
                row.requests.unwrap_or(0.0) / 60.0;
        }
        let mut rps: Vec<f64> = per_minute.into_values().collect();
        let expected = percentile(&mut rps, 0.99).expect("minutes");
        let peak = input(&view, "peak_rps");
        assert_eq!(peak["source"]["kind"], "measured", "{backend:?}");
        let measured = peak["value"].as_f64().expect("peak");
        assert!(
            (measured - expected).abs() < 1e-6,
            "{backend:?}: {measured} vs {expected}"
        );
        assert_eq!(input(&view, "current_instances")["value"], 3.0);
        for key in ["cpu_per_request", "memory_per_connection", "avg_request_ms"] {
            assert_eq!(
                input(&view, key)["source"]["kind"],
                "measured",
                "{backend:?} {key}"
            );
        }
        let instances = view["report"]["plan"]["instances"].as_u64().expect("plan");
        // The seeded month grows about 1% a day: the trend must say so.
        let slope = view["report"]["trend"]["slope_per_day"]
            .as_f64()
            .expect("trend");
        assert!(slope > 0.0, "{backend:?}: {slope}");
        assert!(view["report"]["peaks"].as_array().expect("peaks").len() >= 30);

        // Bad input: refused, named, nothing saved.
        let bad = [("scope", "fleet"), ("inputs[cpu_per_request]", "lots")];
        let (status, body) = post_form(&app, &lead, "/api/capacity/save", &bad).await;
        assert_eq!(status, 422, "{backend:?}: {body}");
        assert!(body.to_string().contains("cpu_per_request"), "{body}");

        // A what-if: ten times the CPU per request needs more instances.
        let cpu = input(&view, "cpu_per_request")["value"]
            .as_f64()
            .expect("cpu")
            * 10.0;
        let what_if = [
            ("scope", "fleet"),
            ("inputs[cpu_per_request]", &cpu.to_string()),
        ];
        let (status, body) = post_form(&app, &lead, "/api/capacity/save", &what_if).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        let (_, changed) = post_form(&app, &lead, "/api/capacity/get", &get).await;
        assert_eq!(
            input(&changed, "cpu_per_request")["source"]["kind"],
            "override"
        );
        assert!(
            changed["report"]["plan"]["instances"]
                .as_u64()
                .expect("plan")
                > instances
        );

        // Someone else still sees the measurement.
        let (_, other) = app.signed_in(Role::Viewer).await;
        let (_, theirs) = post_form(&app, &other, "/api/capacity/get", &get).await;
        assert_eq!(
            input(&theirs, "cpu_per_request")["source"]["kind"],
            "measured"
        );
        assert_eq!(
            theirs["report"]["plan"]["instances"].as_u64(),
            Some(instances)
        );

        // The CSV carries the lead's plan.
        let csv = lead
            .get(app.url("/reports/capacity.csv?scope=fleet&window=24h"))
            .send()
            .await
            .expect("csv");
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = csv.text().await.expect("text");
        assert!(csv.contains("\"cpu_per_request\","), "{csv}");
        assert!(
            csv.lines()
                .any(|l| l.starts_with("\"cpu_per_request\",") && l.contains("override by")),
            "{csv}"
        );
        let chart = lead
            .get(app.url("/charts/capacity.svg?scope=tag:nope&window=7d"))
            .send()
            .await
            .expect("chart");
        assert_eq!(chart.status(), 200);
        assert!(chart.text().await.expect("svg").contains("<svg"));

        // An empty tag has nothing measured: the plan says what it needs.
        let (_, empty) = post_form(
            &app,
            &lead,
            "/api/capacity/get",
            &[("scope", "tag:nope"), ("window", "7d")],
        )
        .await;
        assert!(empty["report"]["plan"].is_null(), "{empty}");
        assert!(
            empty["report"]["missing"].to_string().contains("peak_rps"),
            "{empty}"
        );
        let (status, _) = post_form(
            &app,
            &lead,
            "/api/capacity/get",
            &[("scope", "moon"), ("window", "7d")],
        )
        .await;
        assert_eq!(status, 422);

        // Reset brings the measurement back.
        let reset = [("scope", "fleet"), ("reset", "true")];
        let (status, _) = post_form(&app, &lead, "/api/capacity/save", &reset).await;
        assert_eq!(status, 200);
        let (_, back) = post_form(&app, &lead, "/api/capacity/get", &get).await;
        assert_eq!(
            input(&back, "cpu_per_request")["source"]["kind"],
            "measured"
        );
        app.stop().await.expect("stops");
        fleet.shutdown();
    }
}
