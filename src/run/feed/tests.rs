use super::*;

fn read(text: &str) -> (Vec<Row>, Vec<Problem>) {
    read_contacts(text.as_bytes(), &FeedOptions::default()).unwrap()
}

fn error(text: &[u8]) -> FeedError {
    read_contacts(text, &FeedOptions::default()).unwrap_err()
}

#[test]
fn detects_the_format_from_the_first_character() {
    assert_eq!(Format::detect(b"\xEF\xBB\xBF  \n[{}]"), Format::Json);
    assert_eq!(Format::detect(b"\n{\"id\": 1}\n"), Format::JsonLines);
    assert_eq!(Format::detect(b"id,name\n"), Format::Csv);
    assert_eq!(Format::detect(b""), Format::Csv);
}

#[test]
fn an_empty_contacts_feed_is_an_error_but_a_header_alone_has_no_rows() {
    // A failed export writes nothing; "no contacts" would hide it.
    assert!(matches!(error(b""), FeedError::Empty));
    assert!(matches!(error(b"\xEF\xBB\xBF\r\n"), FeedError::Empty));
    assert_eq!(read("id,name\r\n"), (vec![], vec![]));
    assert_eq!(read("[]"), (vec![], vec![]));
    let none = read_events(b"", &FeedOptions::default()).unwrap();
    assert_eq!(none, (vec![], vec![]));
    let none = read_events(b"[]", &FeedOptions::default()).unwrap();
    assert_eq!(none, (vec![], vec![]));
}

#[test]
fn lines_count_blank_lines_and_quoted_newlines() {
    let (rows, problems) = read("id,note\r\n\r\n1,\"a\r\nb\"\r\n\r\n2,c");
    assert_eq!(problems, vec![]);
    let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 6]);
    assert_eq!(rows[0].values["note"], Raw::Text("a\r\nb".into()));
}

#[test]
fn a_wrong_field_count_over_several_lines_suggests_an_open_quote() {
    let (rows, problems) = read("id,name,city\n1,\"Anna,\nBudapest\"\n2,Bob,Pécs\n");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 4);
    let message = "expected 3 fields, found 2 in the row on lines 2-3 (is a quote left open?)";
    assert_eq!(
        problems,
        vec![Problem {
            line: 2,
            field: None,
            message: message.into()
        }]
    );
}

#[test]
fn header_errors_stop_the_feed() {
    let utf8 = error(b"id,n\xE9v\n1,Anna\n");
    assert_eq!(
        utf8.to_string(),
        "line 1: not valid UTF-8; save the file as UTF-8"
    );
    let quote = error(b"id,\"name\n1,Anna\n");
    assert!(matches!(quote, FeedError::UnclosedQuote { line: 1 }));
    let twice = error(b"id, email ,email\n");
    assert_eq!(
        twice.to_string(),
        "line 1: the header has two `email` columns"
    );
    let missing = error(b"\n\nname,,\nAnna,,\n");
    assert_eq!(
        missing.to_string(),
        "line 3: the header has no `id` column (found: `name`)"
    );
    assert_eq!(missing.line(), 3);
}

#[test]
fn cells_under_a_blank_header_are_ignored() {
    let (rows, problems) = read("id;name;\n1;Anna;\n2;Bob;x\n");
    assert_eq!(problems, vec![]);
    assert_eq!(rows[1].values.keys().collect::<Vec<_>>(), ["id", "name"]);
}

#[test]
fn json_syntax_errors_name_the_file_line_and_column() {
    let broken = error(b"[\n  {\"id\": 1},\n  {\"id\": 2,, }\n]");
    assert_eq!(
        broken.to_string(),
        "line 3, column 12: not valid JSON: key must be a string"
    );
    let unclosed = error(b"[{\"id\": 1}");
    assert_eq!(
        unclosed.to_string(),
        "line 1, column 11: not valid JSON: the array is never closed with `]`"
    );
    let trailing = error(b"[{\"id\": 1}]\n]");
    assert_eq!(
        trailing.to_string(),
        "line 2, column 1: not valid JSON: text after the closing `]`"
    );
    let comma = error(b"[{\"id\": 1},]");
    assert_eq!(
        comma.to_string(),
        "line 1, column 12: not valid JSON: expected value"
    );
}

#[test]
fn a_json_document_that_is_not_an_array_is_a_feed_error() {
    let options = FeedOptions {
        format: Some(Format::Json),
        ..FeedOptions::default()
    };
    let error = read_contacts(b"\n{\"id\": 1}", &options).unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 2: expected a JSON array of objects, found an object"
    );
    let latin1 = read_contacts(b"[\n{\"id\": \"Andr\xE9\"}]", &options).unwrap_err();
    assert!(matches!(latin1, FeedError::NotUtf8 { line: 2 }));
}

#[test]
fn json_lines_report_bad_utf8_by_line() {
    let (rows, problems) = read_contacts(
        b"{\"id\": 1}\n{\"id\": \"\xE9\"}\n{\"id\": 18446744073709551615}\n",
        &FeedOptions::default(),
    )
    .unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["1", "18446744073709551615"]);
    let message = "not valid UTF-8 (byte 0xE9); save the file as UTF-8";
    assert_eq!(
        problems,
        vec![Problem {
            line: 2,
            field: None,
            message: message.into()
        }]
    );
}

/// Any byte soup must come back as rows, problems or an error: the
/// runner reads feeds nobody checked.
#[test]
fn garbage_never_panics() {
    let seeds: [&[u8]; 4] = [
        b"id;name\r\n1;\"a\"\"b\"\r\n2;x\r\n",
        b"[{\"id\": 1}, {\"id\": \"2\"}]",
        b"{\"id\": 1}\n{\"id\": 2}\n",
        b"contact,event,at,data\na,x,2024-05-01 09:00,{}\n",
    ];
    let specials = [b'"', b',', b';', b'\n', b'\r', b'{', b'[', 0xE9, 0xEF, b' '];
    let mut state = 0x2545_F491_u32;
    for seed in seeds {
        for _ in 0..300 {
            let mut bytes = seed.to_vec();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let at = state as usize % (bytes.len() + 1);
                let byte = specials[(state >> 8) as usize % specials.len()];
                if state & 1 == 0 && at < bytes.len() {
                    bytes[at] = byte;
                } else {
                    bytes.insert(at, byte);
                }
            }
            let _ = read_contacts(&bytes, &FeedOptions::default());
            let _ = read_events(&bytes, &FeedOptions::default());
        }
    }
}
