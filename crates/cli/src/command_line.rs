//! Parsing the command line: the clap definition of `args.rs`, plus what clap cannot work out
//! on its own (a suggestion for a subcommand typed with two letters swapped).

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

use crate::args::Cli;

/// Edits (a swap of two neighbours counts as one) within which a typed word suggests a subcommand.
const MAX_SUGGESTION_EDITS: usize = 2;

/// Parses the process's arguments; `--help`, `--version` and usage errors exit the process as
/// clap does (usage errors with code 2).
pub fn parse() -> Cli {
    let mut command = Cli::command();
    let matches = command
        .try_get_matches_from_mut(std::env::args_os())
        .unwrap_or_else(|error| with_subcommand_suggestion(error, &command).exit());
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.format(&mut command).exit())
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
    fn swapped_or_missing_letters_suggest_the_subcommand() {
        let command = Cli::command();
        assert_eq!(closest_subcommand("gte", &command), Some("get"));
        assert_eq!(closest_subcommand("wram", &command), Some("warm"));
        assert_eq!(closest_subcommand("migrat", &command), Some("migrate"));
        assert_eq!(closest_subcommand("frobnicate", &command), None);
        // One letter is too little to guess from.
        assert_eq!(closest_subcommand("e", &command), None);
    }
}
