//! docs/TOOLS.md is generated from the registry; this test fails when it is stale.
//! Regenerate with `cargo run -- list-tools --markdown > docs/TOOLS.md`
//! (or run this test with PGMCP_UPDATE_DOCS=1).

use pgmcp::tools::tools_markdown;

#[test]
fn tools_md_matches_the_registry() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/TOOLS.md");
    let expected = tools_markdown(&pgmcp::app::registry());
    if std::env::var_os("PGMCP_UPDATE_DOCS").is_some() {
        std::fs::write(path, &expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/TOOLS.md is stale: run `cargo run -- list-tools --markdown > docs/TOOLS.md`"
    );
}

#[test]
fn code_mode_declarations_match_the_registry() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CODE_MODE_API.d.ts");
    let expected = pgmcp::codemode::api::declarations(pgmcp::app::registry().all().iter());
    if std::env::var_os("PGMCP_UPDATE_DOCS").is_some() {
        std::fs::write(path, &expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/CODE_MODE_API.d.ts is stale: run `cargo run -- list-tools --declarations > docs/CODE_MODE_API.d.ts`"
    );
}

#[test]
fn every_tool_is_documented_with_its_arguments() {
    let md = tools_markdown(&pgmcp::app::registry());
    for t in pgmcp::app::registry().all() {
        assert!(
            md.contains(&format!("### `{}`", t.name)),
            "{} missing",
            t.name
        );
        if let Some(props) = t
            .input_schema()
            .get("properties")
            .and_then(|p| p.as_object())
        {
            for arg in props.keys() {
                assert!(
                    md.contains(&format!("| `{arg}` |")),
                    "{}.{arg} missing",
                    t.name
                );
            }
        }
    }
}
