//! `init()` with bad environment variables reports each once, names it, and keeps running on
//! defaults. The check runs in a child process so the variables do not leak into other tests.

use std::process::Command;

#[test]
fn init_reports_bad_variables_and_falls_back() {
    if std::env::var_os("TRACEWELL_TEST_CHILD").is_some() {
        let _g = tracewell::init();
        tracewell::in_span("still-works", || ());
        let spans = tracewell::collected();
        assert!(spans.iter().any(|s| s.name == "still-works"));
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "init_reports_bad_variables_and_falls_back", "--nocapture"])
        .env("TRACEWELL_TEST_CHILD", "1")
        .env("OTEL_BSP_MAX_QUEUE_SIZE", "lots")
        .env("OTEL_TRACES_SAMPLER", "sometimes")
        .env_remove("OTEL_TRACES_EXPORTER")
        .output()
        .expect("run child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert!(stderr.contains("OTEL_BSP_MAX_QUEUE_SIZE=\"lots\""), "{stderr}");
    assert!(stderr.contains("OTEL_TRACES_SAMPLER=\"sometimes\""), "{stderr}");
    assert_eq!(stderr.matches("OTEL_BSP_MAX_QUEUE_SIZE").count(), 1, "reported once: {stderr}");
}

#[test]
fn builder_returns_the_bad_variable_as_an_error() {
    if std::env::var_os("TRACEWELL_TEST_CHILD").is_some() {
        let err = tracewell::builder().install().expect_err("bad env is an error");
        assert!(err.to_string().starts_with("OTEL_BSP_SCHEDULED_DELAY=\"soon\""), "{err}");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "builder_returns_the_bad_variable_as_an_error"])
        .env("TRACEWELL_TEST_CHILD", "1")
        .env("OTEL_BSP_SCHEDULED_DELAY", "soon")
        .output()
        .expect("run child");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
