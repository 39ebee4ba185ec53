//! Parsing the command line: the clap definition of `args.rs`, plus what clap cannot work out
//! on its own (help written from the provider registry, a suggestion for a subcommand typed with
//! two letters swapped).

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

use crate::args::Cli;
use crate::settings::ProviderChoice;

/// Edits (a swap of two neighbours counts as one) within which a typed word suggests a subcommand.
const MAX_SUGGESTION_EDITS: usize = 2;

/// Parses the process's arguments; `--help`, `--version` and usage errors exit the process as
/// clap does (usage errors with code 2).
pub fn parse() -> Cli {
    let mut command = command();
    let matches = command
        .try_get_matches_from_mut(std::env::args_os())
        .unwrap_or_else(|error| with_subcommand_suggestion(error, &command).exit());
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.format(&mut command).exit())
}

/// The command line with the help that depends on the provider registry filled in.
pub fn command() -> clap::Command {
    Cli::command().mut_arg("provider", |provider| provider.help(provider_help()))
}

/// The `--provider` help: every name the registry accepts, so a new provider is listed at once.
pub fn provider_help() -> String {
    format!(
        "Upstream provider, or several separated by commas (the first serves, the others are \
         fallbacks in order): {} [default: $MARKETCACHE_PROVIDER, marketcache.toml, yahoo]",
        ProviderChoice::names().join(", ")
    )
}

/// Adds "a similar subcommand exists" to an unknown subcommand that clap found nothing like:
/// clap ranks by Jaro similarity, which misses a swap such as `gte` for `get`.
fn with_subcommand_suggestion(mut error: clap::Error, command: &clap::Command) -> clap::Error {
    if error.kind() != ErrorKind::InvalidSubcommand {
        return error;
    }
    let clap_suggested = match error.get(ContextKind::SuggestedSubcommand) {
        Some(ContextValue::Strings(names)) => !names.is_empty(),
        Some(_) => true,
        None => false,
    };
    let typed = match error.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(typed)) if !clap_suggested => typed.clone(),
        _ => return error,
    };
    if let Some(name) = closest_subcommand(&typed, command) {
        error.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::String(name.to_string()),
        );
    }
    error
}

/// The subcommand (or alias) fewest edits away from `typed`, if it is close enough to be what
/// was meant: within [`MAX_SUGGESTION_EDITS`] and fewer edits than `typed` has letters.
fn closest_subcommand<'a>(typed: &str, command: &'a clap::Command) -> Option<&'a str> {
    let letters = typed.chars().count();
    command
        .get_subcommands()
        .flat_map(|subcommand| {
            std::iter::once(subcommand.get_name()).chain(subcommand.get_all_aliases())
        })
        .map(|name| (strsim::osa_distance(typed, name), name))
        .filter(|(edits, _)| *edits <= MAX_SUGGESTION_EDITS && *edits < letters)
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_names_every_subcommand() {
        let command = command();
        let about = command
            .get_about()
            .map(ToString::to_string)
            .unwrap_or_default();
        let words: Vec<&str> = about.split(|c: char| !c.is_ascii_alphanumeric()).collect();
        for subcommand in command.get_subcommands() {
            assert!(
                words.contains(&subcommand.get_name()),
                "the description does not mention {}: {about}",
                subcommand.get_name()
            );
        }
    }

    #[test]
    fn the_provider_help_names_every_provider() {
        let command = command();
        let help = command
            .get_arguments()
            .find(|argument| argument.get_id() == "provider")
            .and_then(|argument| argument.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        for name in ProviderChoice::names() {
            assert!(help.contains(name), "{name} missing from: {help}");
        }
    }

    #[test]
    fn swapped_or_missing_letters_suggest_the_subcommand() {
        let command = command();
        assert_eq!(closest_subcommand("gte", &command), Some("get"));
        assert_eq!(closest_subcommand("wram", &command), Some("warm"));
        assert_eq!(closest_subcommand("migrat", &command), Some("migrate"));
        assert_eq!(closest_subcommand("frobnicate", &command), None);
        // One letter is too little to guess from.
        assert_eq!(closest_subcommand("e", &command), None);
    }
}
