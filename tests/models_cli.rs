//! `pk models` lists every bundled model with its structure (issue 14, first contact).

use pk::model::Model;
use std::process::Command;

#[test]
fn models_lists_every_bundled_model() {
    let out = Command::new(env!("CARGO_BIN_EXE_pk")).arg("models").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in Model::bundled_names() {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing:\n{text}"
        );
    }
    // The ODE twin is shown as the kernel it is recognised as.
    assert!(
        text.lines()
            .any(|l| l.starts_with("two_cmt_pop_ode ") && l.contains("ODEs (2 as two_cmt_iv)")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("one_cmt_mm_iv ") && l.contains("ODEs (1 state)")),
        "{text}"
    );
}
