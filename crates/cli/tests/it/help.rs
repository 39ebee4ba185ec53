//! What `--help` says: written from what the binary knows, so it cannot fall behind it.

use crate::support::Sandbox;

/// The names listed under `Commands:` in `--help`, without clap's own `help`.
fn listed_subcommands(help: &str) -> Vec<&str> {
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect()
}

#[test]
fn the_description_at_the_top_of_the_help_mentions_every_subcommand() {
    let sandbox = Sandbox::new();
    let help = sandbox.run_bare(&["--help"]);
    help.expect_code(0);

    let description = help.stdout.split("\nUsage:").next().unwrap_or_default();
    let words: Vec<&str> = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .collect();
    let subcommands = listed_subcommands(&help.stdout);
    assert!(subcommands.len() >= 11, "{}", help.stdout);
    for name in subcommands {
        assert!(
            words.contains(&name),
            "the description does not mention {name}:\n{description}"
        );
    }
}

#[test]
fn the_provider_help_lists_every_provider_the_binary_knows_and_the_default() {
    let sandbox = Sandbox::new();
    let providers = sandbox
        .run(&["providers", "--json"])
        .expect_code(0)
        .stdout_json();
    let names: Vec<String> = providers
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(names.len() >= 8, "{providers}");

    for args in [&["--help"][..], &["get", "--help"][..]] {
        let help = sandbox.run_bare(args);
        help.expect_code(0);
        let line = help
            .stdout
            .lines()
            .find(|line| line.trim_start().starts_with("--provider"))
            .unwrap_or_else(|| panic!("no --provider in {args:?}:\n{}", help.stdout));
        for name in &names {
            assert!(line.contains(name.as_str()), "{name} missing: {line}");
        }
        assert!(
            line.ends_with("[default: $MARKETCACHE_PROVIDER, marketcache.toml, yahoo]"),
            "{line}"
        );
        assert!(!line.contains("synthetic or csv"), "{line}");
    }
}
