//! Output of received messages: plain, `-v` (topic then payload) or `-F` format strings
//! (a subset of mosquitto_sub's: `%t %p %q %r %i %l %%` and the escapes `\n \t \\`).

use petrel_client::ReceivedMessage;

/// How each message is printed.
#[derive(Debug, Clone)]
pub struct Printer {
    pub verbose: bool,
    pub format: Option<String>,
    pub no_newline: bool,
}

impl Printer {
    /// The bytes to write for `m`.
    pub fn render(&self, m: &ReceivedMessage) -> Vec<u8> {
        let mut out = Vec::with_capacity(m.payload.len() + m.topic.len() + 2);
        match &self.format {
            Some(f) => {
                render_format(f, m, &mut out);
                return out;
            }
            None if self.verbose => {
                out.extend_from_slice(m.topic.as_bytes());
                out.push(b' ');
                out.extend_from_slice(&m.payload);
            }
            None => out.extend_from_slice(&m.payload),
        }
        if !self.no_newline {
            out.push(b'\n');
        }
        out
    }
}

fn render_format(f: &str, m: &ReceivedMessage, out: &mut Vec<u8>) {
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => match chars.next() {
                Some('t') => out.extend_from_slice(m.topic.as_bytes()),
                Some('p') => out.extend_from_slice(&m.payload),
                Some('q') => out.extend_from_slice((m.qos as u8).to_string().as_bytes()),
                Some('r') => out.push(if m.retain { b'1' } else { b'0' }),
                Some('i') => {
                    let id = m.packet_id().map_or(0, |p| p.get());
                    out.extend_from_slice(id.to_string().as_bytes());
                }
                Some('l') => out.extend_from_slice(m.payload.len().to_string().as_bytes()),
                Some('%') => out.push(b'%'),
                Some(other) => {
                    out.push(b'%');
                    push_char(out, other);
                }
                None => out.push(b'%'),
            },
            '\\' => match chars.next() {
                Some('n') => out.push(b'\n'),
                Some('t') => out.push(b'\t'),
                Some('\\') => out.push(b'\\'),
                Some(other) => {
                    out.push(b'\\');
                    push_char(out, other);
                }
                None => out.push(b'\\'),
            },
            c => push_char(out, c),
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut b = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
}
