//! Server-sent events in MCP answers: bytes split into events whole, under a cap.
use super::*;

/// Reads SSE events until the one answering `id` arrives; the stream may stay open after it.
pub(super) async fn read_sse_response(
    response: reqwest::Response,
    id: i64,
    limits: FetchLimits<'_>,
) -> Result<Value, ProbeError> {
    let mut events = EventReader::new(response, limits);
    while let Some(event) = events.next().await? {
        if let Ok(message) = serde_json::from_str::<Value>(&event.data)
            && message.get("id") == Some(&json!(id))
        {
            return Ok(message);
        }
    }
    Err(ProbeError::Protocol(
        "the event stream ended without the response".into(),
    ))
}

/// One server-sent event: its name (`message` unless it says otherwise) and its data lines.
#[derive(Debug, PartialEq)]
pub(super) struct Event {
    pub(super) name: String,
    pub(super) data: String,
}

/// Splits a response body into server-sent events, reading at most `max_body_bytes` until
/// `allow_another` grants that much again.
pub(super) struct EventReader {
    response: reqwest::Response,
    buffer: SseBuffer,
    timeout: Duration,
}

impl EventReader {
    pub(super) fn new(response: reqwest::Response, limits: FetchLimits<'_>) -> Self {
        Self {
            response,
            buffer: SseBuffer::new(limits.max_body_bytes),
            timeout: limits.timeout,
        }
    }

    /// For a stream meant to stay open: the cap applies to each event, not to the whole.
    pub(super) fn allow_another(&mut self) {
        self.buffer.allow_another();
    }

    /// The next event with data, or `None` when the stream ends.
    pub(super) async fn next(&mut self) -> Result<Option<Event>, ProbeError> {
        loop {
            if let Some(event) = self.buffer.take() {
                return Ok(Some(event));
            }
            let Some(chunk) = self
                .response
                .chunk()
                .await
                .map_err(|e| fetch::classify(&e, self.timeout))?
            else {
                return Ok(None);
            };
            self.buffer.push(&chunk)?;
        }
    }
}

/// Event-stream bytes not yet split into events. Bytes, not text: a character split across
/// two network chunks is decoded whole.
struct SseBuffer {
    bytes: Vec<u8>,
    /// How far the search for the end of the next event has looked, so an event trickled in
    /// byte by byte is scanned once, not once per byte.
    scanned: usize,
    allowed: usize,
    max_bytes: usize,
}

impl SseBuffer {
    fn new(max_bytes: usize) -> Self {
        Self {
            bytes: Vec::new(),
            scanned: 0,
            allowed: max_bytes,
            max_bytes,
        }
    }

    fn allow_another(&mut self) {
        self.allowed = self.max_bytes;
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), ProbeError> {
        if chunk.len() > self.allowed {
            return Err(ProbeError::BodyTooLarge {
                limit_bytes: self.max_bytes as u64,
            });
        }
        self.allowed -= chunk.len();
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// Takes the first complete event with data off the front, skipping events without data
    /// (comments, keep-alives); `None` until a whole one has arrived.
    fn take(&mut self) -> Option<Event> {
        while let Some(end) = find_event_end(&self.bytes, self.scanned) {
            self.scanned = 0;
            let block: Vec<u8> = self.bytes.drain(..end).collect();
            let block = String::from_utf8_lossy(&block);
            let mut event = Event {
                name: "message".into(),
                data: String::new(),
            };
            let mut lines = 0;
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event.name = name.trim().to_owned();
                } else if let Some(data) = line.strip_prefix("data:") {
                    if lines > 0 {
                        event.data.push('\n');
                    }
                    event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                    lines += 1;
                }
            }
            if lines > 0 {
                return Some(event);
            }
        }
        self.scanned = self.bytes.len();
        None
    }
}

/// The byte offset just past the blank line that ends the first complete event, looking
/// from a little before `from` (a separator may straddle it).
fn find_event_end(buffer: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3).min(buffer.len());
    [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"]
        .iter()
        .filter_map(|sep| {
            buffer[start..]
                .windows(sep.len())
                .position(|w| w == *sep)
                .map(|i| start + i + sep.len())
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_end_at_the_first_blank_line() {
        assert_eq!(find_event_end(b"data: 1\n\ndata: 2\n\n", 0), Some(9));
        assert_eq!(find_event_end(b"data: 1\r\n\r\n", 0), Some(11));
        assert_eq!(
            find_event_end(b"data: 1\r\n\r\n", 10),
            Some(11),
            "straddling"
        );
        assert_eq!(find_event_end(b"data: partial", 0), None);
    }

    #[test]
    fn a_character_split_across_chunks_is_decoded_whole() {
        let body = "data: {\"description\": \"caf\u{e9} \u{1f600}\"}\n\n".as_bytes();
        // Cut inside the four bytes of the emoji, as a network chunk boundary might.
        let cut = body.len() - 5;
        let mut buffer = SseBuffer::new(1024);
        assert!(buffer.push(&body[..cut]).is_ok());
        assert!(buffer.take().is_none(), "not whole yet");
        assert!(buffer.push(&body[cut..]).is_ok());
        let event = buffer.take().expect("a whole event");
        assert_eq!(event.data, "{\"description\": \"caf\u{e9} \u{1f600}\"}");
        assert!(buffer.bytes.is_empty());
    }

    fn sse_stream() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just(b"data: ".to_vec()),
            Just(b"event: endpoint".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b": keep-alive".to_vec()),
            Just("caf\u{e9} \u{1f600}".as_bytes().to_vec()),
            "[ -~]{0,12}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
    }

    fn drain(buffer: &mut SseBuffer) -> Vec<Event> {
        std::iter::from_fn(|| buffer.take()).collect()
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz_config())]

        #[test]
        fn fuzz_sse_events_are_the_same_however_the_bytes_arrive(
            stream in sse_stream(),
            cuts in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..12),
        ) {
            let mut whole = SseBuffer::new(usize::MAX);
            proptest::prop_assert!(whole.push(&stream).is_ok());
            let expected = drain(&mut whole);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.push(stream.len());
            points.sort_unstable();
            let mut chunked = SseBuffer::new(usize::MAX);
            let (mut got, mut from) = (Vec::new(), 0);
            for to in points {
                proptest::prop_assert!(chunked.push(&stream[from..to]).is_ok());
                got.extend(drain(&mut chunked));
                from = to;
            }
            proptest::prop_assert_eq!(got, expected);
        }

        #[test]
        fn fuzz_sse_reader_never_holds_more_than_its_cap(stream in sse_stream(), size in 1usize..16) {
            let mut buffer = SseBuffer::new(64);
            for chunk in stream.chunks(size) {
                match buffer.push(chunk) {
                    Ok(()) => drop(drain(&mut buffer)),
                    Err(err) => {
                        proptest::prop_assert_eq!(err, ProbeError::BodyTooLarge { limit_bytes: 64 });
                        break;
                    }
                }
                proptest::prop_assert!(buffer.bytes.len() <= 64);
            }
        }
    }
}
