//! The OpenAPI document at `/api/openapi.json`: every route of `/api/v1` and `/v1` the router answers is
//! documented with its method, nothing else is, and the document is valid OpenAPI 3.1 by an
//! independent validator (`openapi-spec-validator`, in the virtual environment `scripts/test.sh`
//! installs).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use axum::http::StatusCode;
use common::TestApp;

testkit::on_both_databases! {
    async fn the_document_describes_every_api_route_the_router_has_and_validates(db: Database) {
        let mut app = TestApp::new(db).await;
        let answer = app.get_anonymous("/api/openapi.json").await;
        assert_eq!(answer.status, StatusCode::OK);
        let document = answer.json();
        assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", document["openapi"]);

        let routed: BTreeSet<(String, String)> = server::http::route_list()
            .into_iter()
            .filter(|(_, path)| path.starts_with("/api/v1/") || path.starts_with("/v1/"))
            .map(|(method, path)| (method.as_str().to_lowercase(), path))
            .collect();
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|key| ["get", "post", "put", "delete", "patch"].contains(&key.as_str()))
                    .map(|method| (method.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(undocumented.is_empty(), "routes the document leaves out: {undocumented:?}");
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(unrouted.is_empty(), "documented routes the router does not have: {unrouted:?}");
        assert!(routed.len() > 45, "{routed:?}");

        // The types behind a route are in it: a job's status is OpenAI's enumeration.
        let status = &document["components"]["schemas"]["Status"]["enum"];
        assert_eq!(status.as_array().map(Vec::len), Some(6), "{status}");
        let create_job = &document["paths"]["/v1/fine_tuning/jobs"]["post"];
        assert!(create_job["requestBody"].is_object(), "{create_job}");

        let python = std::env::var("CRUCIBLE_TEST_OPENAI_PYTHON").expect(
            "CRUCIBLE_TEST_OPENAI_PYTHON names a Python with openapi-spec-validator (scripts/test.sh installs it)",
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("openapi.json");
        std::fs::write(&file, answer.body.as_bytes()).unwrap();
        let check = Command::new(python)
            .args([
                "-c",
                "import json, sys\n\
                 from openapi_spec_validator import OpenAPIV31SpecValidator\n\
                 document = json.load(open(sys.argv[1]))\n\
                 errors = [e.message for e in OpenAPIV31SpecValidator(document).iter_errors()]\n\
                 print('\\n'.join(errors))\n\
                 sys.exit(1 if errors else 0)",
            ])
            .arg(&file)
            .output()
            .expect("run the validator");
        assert!(
            check.status.success(),
            "the validator refuses the document:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
