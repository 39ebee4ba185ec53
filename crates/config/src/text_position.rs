//! Line and column of a place in a text file, for messages that point into files the user wrote.

/// The 1-based line and column (counted in characters) of byte `offset` of `text`; an offset
/// inside a character or past the end counts as the start of that character or the end.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        let text = "a=1\nbé=2\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 2), (1, 3));
        assert_eq!(line_and_column(text, 4), (2, 1));
        // 'é' is two bytes, one column.
        assert_eq!(line_and_column(text, 7), (2, 3));
        assert_eq!(line_and_column(text, 6), (2, 2));
        assert_eq!(line_and_column(text, 100), (3, 1));
    }
}
