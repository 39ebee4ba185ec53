//! The `.env` file of the working directory (where `DATABASE_URL` and provider keys often live).
//! A line that cannot be read stops the command: dotenvy would otherwise drop it and every line
//! after it without a word.

use std::cell::Cell;
use std::io::Read;
use std::path::Path;

use crate::text_position::line_and_column;
use crate::usage::UsageError;

/// What a line of the file should look like, told with each complaint.
const LINE_FORM: &str = "lines are NAME=VALUE; quote a value that holds spaces";

/// Loads `path` into the environment if it exists; variables already set keep their values.
pub fn load(path: &Path) -> Result<(), UsageError> {
    let mut text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(UsageError(format!("{}: {error}", path.display()))),
    };
    // dotenvy reads a last line that ends in a space but not in a newline as unfinished.
    if !text.ends_with('\n') {
        text.push('\n');
    }
    // Its line iterator, unlike its loader, would read a byte-order mark as part of the first name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if let Some((offset, reason)) = first_problem(text) {
        let (line, column) = line_and_column(text, offset);
        return Err(UsageError(format!(
            "{} line {line}, column {column}: {reason}",
            path.display()
        )));
    }
    dotenvy::from_read(text.as_bytes())
        .map_err(|error| UsageError(format!("{}: {error}", path.display())))
}

/// Hands dotenvy one byte per read, so the bytes handed out are exactly those its line reader
/// has consumed: where that stands when it fails is the end of the entry it could not parse.
struct CountingReader<'a> {
    rest: &'a [u8],
    consumed: &'a Cell<usize>,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match (self.rest.split_first(), buffer.first_mut()) {
            (Some((byte, rest)), Some(slot)) => {
                *slot = *byte;
                self.rest = rest;
                self.consumed.set(self.consumed.get() + 1);
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// The byte offset and reason of the first entry of `text` that dotenvy cannot parse.
fn first_problem(text: &str) -> Option<(usize, String)> {
    let consumed = Cell::new(0);
    let mut entries = dotenvy::from_read_iter(CountingReader {
        rest: text.as_bytes(),
        consumed: &consumed,
    });
    loop {
        let before = consumed.get();
        match entries.next()? {
            Ok(_) => {}
            Err(dotenvy::Error::LineParse(fragment, index)) => {
                let entry = entry_start(text, before, consumed.get());
                return Some(locate(text, entry, &fragment, index));
            }
            Err(other) => return Some((before, other.to_string())),
        }
    }
}

/// Where the entry in `text[from..to]` begins: dotenvy skips blank and comment lines before it
/// within the same step.
fn entry_start(text: &str, from: usize, to: usize) -> usize {
    let mut start = from;
    for line in text.get(from..to).unwrap_or_default().split_inclusive('\n') {
        let content = line.trim_start();
        if !(content.is_empty() || content.starts_with('#')) {
            break;
        }
        start += line.len();
    }
    start
}

/// Turns dotenvy's error into a place in `text` and a reason. dotenvy reports a failure in the
/// name or '=' as the whole line with a byte offset, and one in the value as the value alone
/// with a character offset.
fn locate(text: &str, entry: usize, fragment: &str, index: usize) -> (usize, String) {
    let line = text.get(entry..).unwrap_or_default();
    if line.starts_with(fragment) {
        let offset = entry + index;
        if offset >= text.len() {
            // Only a quote left open carries an entry to the end of the file: point at it.
            let quote = line.find(['"', '\'']).map_or(entry, |at| entry + at);
            return (quote, "this quote is never closed".to_string());
        }
        let name_start = entry + (line.len() - line.trim_start().len());
        let reason = if offset == name_start {
            "a name starts with a letter or '_'"
        } else {
            "expected '=' after the name"
        };
        return (offset, format!("{reason} ({LINE_FORM})"));
    }
    let value_start = line.find('=').map_or(0, |equals| {
        let after = line.get(equals + 1..).unwrap_or_default();
        equals + 1 + (after.len() - after.trim_start().len())
    });
    let within = fragment
        .char_indices()
        .nth(index)
        .map_or(fragment.len(), |(at, _)| at);
    let offset = entry + value_start + within;
    let reason = match text.get(offset..).and_then(|rest| rest.chars().next()) {
        Some(found) if !matches!(found, '\n' | '\r') => {
            format!("unexpected {found:?} ({LINE_FORM})")
        }
        _ => format!("the value ends too soon ({LINE_FORM})"),
    };
    (offset, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Option<((usize, usize), String)> {
        first_problem(text).map(|(offset, reason)| (line_and_column(text, offset), reason))
    }

    #[test]
    fn a_file_dotenvy_reads_has_no_problem() {
        let text = "# comment\n\nexport A=1\nB = \"two words\"\nC='x' # note\nD=\"a\nb\"\nE=\n";
        assert_eq!(problem(text), None);
    }

    #[test]
    fn a_space_in_an_unquoted_value_is_found_at_its_column() {
        let text = "# settings\nA=1\nFOO=a b\nB=2\n";
        let ((line, column), reason) = problem(text).unwrap_or_default();
        assert_eq!((line, column), (3, 7));
        assert!(reason.starts_with("unexpected 'b'"), "{reason}");
    }

    #[test]
    fn a_broken_name_or_a_missing_equals_sign_is_found_where_it_breaks() {
        let ((line, column), reason) = problem("A=1\n  1A=2\n").unwrap_or_default();
        assert_eq!((line, column), (2, 3));
        assert!(reason.starts_with("a name starts with"), "{reason}");
        let ((line, column), reason) = problem("A=1\nMY VAR=2\n").unwrap_or_default();
        assert_eq!((line, column), (2, 4));
        assert!(reason.starts_with("expected '='"), "{reason}");
        let ((line, column), _) = problem("# a\n#b\nJUSTANAME\n").unwrap_or_default();
        assert_eq!((line, column), (3, 10));
    }

    #[test]
    fn a_value_after_a_multi_line_value_is_found_on_its_own_line() {
        let text = "A=\"one\ntwo\"\nB=\\q\n";
        let ((line, column), reason) = problem(text).unwrap_or_default();
        assert_eq!((line, column), (3, 4));
        assert!(reason.starts_with("unexpected 'q'"), "{reason}");
    }

    #[test]
    fn an_unclosed_quote_is_pointed_at_not_the_end_of_the_file() {
        let text = "A=1\nB=\"open\nC=3\nD=4\n";
        let ((line, column), reason) = problem(text).unwrap_or_default();
        assert_eq!((line, column), (2, 3));
        assert_eq!(reason, "this quote is never closed");
    }
}
