//! GitHub-flavoured Markdown tables, escaped the same way everywhere: a cell's `|` is
//! escaped and its line breaks become spaces, so that no name can break a table's shape; a
//! code span has its backticks replaced, so that no name can end it early.

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table: a header row, an alignment row, then the rows pushed.
#[derive(Clone, Debug)]
pub struct MarkdownTable {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl MarkdownTable {
    /// A table with these columns (the header text is escaped as a cell).
    #[must_use]
    pub fn new<S: AsRef<str>>(columns: impl IntoIterator<Item = (S, Align)>) -> MarkdownTable {
        MarkdownTable {
            columns: (columns.into_iter())
                .map(|(name, align)| (cell(name.as_ref()), align))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of cells already made with [`cell`] or [`code`] (or of plain numbers).
    /// Missing cells are left empty; more cells than columns is a bug (checked in debug
    /// builds, dropped in release ones).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        debug_assert!(
            row.len() <= self.columns.len(),
            "{} cells for {} columns",
            row.len(),
            self.columns.len()
        );
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
        self
    }

    /// The rows pushed so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row was pushed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl std::fmt::Display for MarkdownTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_row(f, self.columns.iter().map(|(n, _)| n.as_str()))?;
        f.write_str("|")?;
        for (_, align) in &self.columns {
            f.write_str(match align {
                Align::Left => ":---|",
                Align::Right => "---:|",
            })?;
        }
        f.write_str("\n")?;
        for row in &self.rows {
            write_row(f, row.iter().map(String::as_str))?;
        }
        Ok(())
    }
}

fn write_row<'a>(
    f: &mut std::fmt::Formatter<'_>,
    cells: impl Iterator<Item = &'a str>,
) -> std::fmt::Result {
    f.write_str("|")?;
    for c in cells {
        if c.is_empty() {
            f.write_str(" |")?;
        } else {
            write!(f, " {c} |")?;
        }
    }
    f.write_str("\n")
}

/// `text` as a table cell: `|` escaped, line breaks as spaces.
#[must_use]
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}

/// `text` as a code span in running text (a heading, a paragraph): backticks replaced by `'`
/// so that none ends it early; outside a table `|` needs no escape.
#[must_use]
pub fn code_span(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

/// `text` as a code span fit for a table cell: backticks replaced by `'`, then escaped as
/// [`cell`].
#[must_use]
pub fn code(text: &str) -> String {
    format!("`{}`", cell(&text.replace('`', "'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_name_breaks_the_table() {
        let mut t = MarkdownTable::new([("Command", Align::Left), ("Mean", Align::Right)]);
        t.row([code("a | b `c`\nd"), "1.5".into()]);
        t.row(["only one"]);
        assert_eq!(
            t.to_string(),
            "| Command | Mean |\n|:---|---:|\n| `a \\| b 'c' d` | 1.5 |\n| only one | |\n"
        );
        for line in t.to_string().lines() {
            let unescaped = line.replace("\\|", "");
            assert_eq!(unescaped.matches('|').count(), 3, "{line}");
        }
    }
}
