//! The syscall buffer as the recorder reads it. The recorded program owns
//! that memory and can write anything into it, by bug or on purpose:
//! reading its records, and converting them to and from the column layout
//! the trace stores, must end in an error on damage, never a panic. Records
//! that convert to columns must convert back to the same columns.

use syscallbuf::{records, records_from_columns, records_to_columns, Header, HEADER_LEN};

pub fn run(input: &[u8]) {
    if let Some(head) = input.first_chunk::<HEADER_LEN>() {
        let _ = Header::from_bytes(head);
    }
    for record in records(input) {
        if record.is_err() {
            break;
        }
    }
    let mut columns = vec![0u8; input.len()];
    if records_to_columns(input, &mut columns).is_ok() {
        let mut back = vec![0u8; input.len()];
        records_from_columns(&columns, &mut back)
            .expect("columns made from well-formed records convert back");
        let mut again = vec![0u8; input.len()];
        records_to_columns(&back, &mut again).expect("converted records are well-formed");
        assert_eq!(
            again, columns,
            "a round trip through the records changed the columns"
        );
    }
    let mut rebuilt = vec![0u8; input.len()];
    let _ = records_from_columns(input, &mut rebuilt);
}
