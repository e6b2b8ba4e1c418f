//! The one CSV writer, for every export a spreadsheet may open: RFC 4180 with every field
//! quoted and CRLF line ends, and formulas defused. A field a spreadsheet would run as a
//! formula gets a leading `'`, in each `;`-separated part too: a spreadsheet set to split on
//! semicolons would read `ok;=cmd()` as two cells, the second a formula.

/// What makes a spreadsheet cell a formula (OWASP's list).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Appends one row and its line end.
pub fn push_row<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, field);
    }
    out.push_str("\r\n");
}

fn push_field(out: &mut String, raw: &str) {
    out.push('"');
    for (i, part) in raw.split(';').enumerate() {
        if i > 0 {
            out.push(';');
        }
        if runs_as_formula(part) {
            out.push('\'');
        }
        for c in part.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
    }
    out.push('"');
}

/// A part that starts (after spaces) like a formula and is not simply a number: `-3.5` stays
/// a number, `-3+cmd()` does not.
fn runs_as_formula(part: &str) -> bool {
    part.trim_start_matches(' ').starts_with(FORMULA_START) && part.trim().parse::<f64>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[&str]) -> String {
        let mut out = String::new();
        push_row(&mut out, fields.iter().copied());
        out
    }

    #[test]
    fn every_field_is_quoted_and_rows_end_in_crlf() {
        assert_eq!(row(&["plain", "", "a,b"]), "\"plain\",\"\",\"a,b\"\r\n");
        assert_eq!(row(&["say \"hi\""]), "\"say \"\"hi\"\"\"\r\n");
        assert_eq!(row(&["two\nlines"]), "\"two\nlines\"\r\n");
    }

    #[test]
    fn formulas_are_defused_in_every_semicolon_part_but_numbers_stay_numbers() {
        assert_eq!(row(&["=1+1"]), "\"'=1+1\"\r\n");
        assert_eq!(row(&["@SUM(A1)"]), "\"'@SUM(A1)\"\r\n");
        assert_eq!(
            row(&["=HYPERLINK(\"x\"),1"]),
            "\"'=HYPERLINK(\"\"x\"\"),1\"\r\n"
        );
        assert_eq!(row(&["ok;=cmd()| x"]), "\"ok;'=cmd()| x\"\r\n");
        assert_eq!(row(&["a; +1+2;b"]), "\"a;' +1+2;b\"\r\n");
        assert_eq!(row(&["\tx"]), "\"'\tx\"\r\n");
        assert_eq!(row(&["-3.5", "+7"]), "\"-3.5\",\"+7\"\r\n");
        assert_eq!(row(&["-3+cmd()"]), "\"'-3+cmd()\"\r\n");
    }
}
