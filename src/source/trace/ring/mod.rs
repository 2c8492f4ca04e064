//! The kernel's trace ring buffer, read page by page from
//! `per_cpu/cpuN/trace_pipe_raw`: binary records, so each change comes
//! with the socket's kernel address (`skaddr`, its identity), both IPv6
//! addresses and a nanosecond timestamp, at a fraction of the cost of
//! formatting and parsing text. Pure byte handling, tested everywhere; the
//! layouts are read from tracefs's own format files, not assumed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod hints;
pub use hints::{Hint, HintEvent, HintFormats, RawHint};

/// Where a page's header fields are (`events/header_page`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLayout {
    pub commit_offset: usize,
    pub commit_size: usize,
    pub data_offset: usize,
}

impl Default for PageLayout {
    /// The 64-bit layout.
    fn default() -> Self {
        PageLayout {
            commit_offset: 8,
            commit_size: 8,
            data_offset: 16,
        }
    }
}

/// One field of an event record: where it is and how big.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Field {
    pub offset: usize,
    pub size: usize,
}

/// The layout of `sock:inet_sock_set_state` records (its `format` file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFormat {
    pub id: u16,
    pub skaddr: Field,
    pub oldstate: Field,
    pub newstate: Field,
    pub sport: Field,
    pub dport: Field,
    pub family: Field,
    pub protocol: Field,
    pub saddr: Field,
    pub daddr: Field,
    pub saddr_v6: Field,
    pub daddr_v6: Field,
    /// The context the record was written in (interrupt bits) and the
    /// task that was running; common to every event, so optional here.
    pub common_flags: Option<Field>,
    pub common_pid: Option<Field>,
}

/// A format file that is not what this code reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unexpected tracefs format: {0}")]
pub struct FormatError(pub String);

/// `field:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;` → ("sport", 24, 2).
pub(super) fn field_line(line: &str) -> Option<(&str, Field)> {
    let mut parts = line.trim().split(';').map(str::trim);
    let decl = parts.next()?.strip_prefix("field:")?;
    let name = decl.split_whitespace().last()?;
    let name = name.split('[').next()?;
    let mut get = |key: &str| -> Option<usize> { parts.next()?.strip_prefix(key)?.parse().ok() };
    let offset = get("offset:")?;
    let size = get("size:")?;
    Some((name, Field { offset, size }))
}

impl PageLayout {
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let mut layout = PageLayout::default();
        let (mut commit, mut data) = (false, false);
        for (name, f) in text.lines().filter_map(field_line) {
            match name {
                "commit" => {
                    (layout.commit_offset, layout.commit_size, commit) = (f.offset, f.size, true)
                }
                "data" => (layout.data_offset, data) = (f.offset, true),
                _ => {}
            }
        }
        let sane = commit && data && matches!(layout.commit_size, 4 | 8);
        if !sane {
            return Err(FormatError(
                "header_page has no usable commit/data fields".into(),
            ));
        }
        Ok(layout)
    }
}

impl EventFormat {
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let mut f = EventFormat::default();
        let id = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("ID:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| FormatError("no event ID".into()))?;
        f.id = id;
        let mut found = 0;
        for (name, field) in text.lines().filter_map(field_line) {
            match name {
                "common_flags" => f.common_flags = Some(field),
                "common_pid" => f.common_pid = Some(field),
                _ => {}
            }
            let slot = match name {
                "skaddr" => &mut f.skaddr,
                "oldstate" => &mut f.oldstate,
                "newstate" => &mut f.newstate,
                "sport" => &mut f.sport,
                "dport" => &mut f.dport,
                "family" => &mut f.family,
                "protocol" => &mut f.protocol,
                "saddr" => &mut f.saddr,
                "daddr" => &mut f.daddr,
                "saddr_v6" => &mut f.saddr_v6,
                "daddr_v6" => &mut f.daddr_v6,
                _ => continue,
            };
            *slot = field;
            found += 1;
        }
        let sizes_ok = f.saddr.size == 4 && f.saddr_v6.size == 16 && f.sport.size == 2;
        if found != 11 || !sizes_ok {
            return Err(FormatError(format!(
                "inet_sock_set_state has {found} of the 11 expected fields"
            )));
        }
        Ok(f)
    }

    /// The record's size: the end of its last field.
    pub fn record_len(&self) -> usize {
        [self.skaddr, self.saddr_v6, self.daddr_v6, self.newstate]
            .iter()
            .map(|f| f.offset + f.size)
            .max()
            .unwrap_or(0)
    }
}

/// One state change as the kernel recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawChange {
    /// CLOCK_MONOTONIC, nanoseconds (the instance's `mono` clock).
    pub ns: u64,
    pub sk: u64,
    pub old: u8,
    pub new: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// The thread running when the change was made in process context:
    /// a system call on the socket, or a segment that waited in the
    /// socket's backlog while such a call held it (processed as the call
    /// lets go). `None` in interrupt context (a segment, a timer), where
    /// the running task is whoever happened to be there: on loopback, the
    /// sender, inside its own send.
    pub task: Option<u32>,
}

/// Context bits of `common_flags`: hard and soft interrupt, NMI.
const TRACE_FLAG_HARDIRQ: u64 = 0x08;
const TRACE_FLAG_SOFTIRQ: u64 = 0x10;
const TRACE_FLAG_NMI: u64 = 0x40;

/// The task of a record written in process context.
fn task(r: &[u8], f: &EventFormat) -> Option<u32> {
    task_of(r, f.common_flags, f.common_pid)
}

/// The task of a record written in process context, from its common
/// fields (every event has the same two).
pub(super) fn task_of(r: &[u8], flags: Option<Field>, pid: Option<Field>) -> Option<u32> {
    let (flags, pid) = (read_uint(r, flags?)?, pid?);
    if flags & (TRACE_FLAG_HARDIRQ | TRACE_FLAG_SOFTIRQ | TRACE_FLAG_NMI) != 0 {
        return None;
    }
    let pid = u32::try_from(read_uint(r, pid)?).ok()?;
    // The idle task is no one's system call.
    (pid != 0).then_some(pid)
}

/// What one page held besides changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageNote {
    /// Events the kernel dropped before this page (at least 1 when it
    /// only says that some were).
    pub lost: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("a trace page is shorter than its header ({0} bytes)")]
    Short(usize),
    #[error("a trace page claims {claimed} bytes of data but holds {have}")]
    Overlong { claimed: usize, have: usize },
}

const TYPE_PADDING: u32 = 29;
const TYPE_TIME_EXTEND: u32 = 30;
const TYPE_TIME_STAMP: u32 = 31;
const TS_SHIFT: u32 = 27;
/// The top bits an absolute time stamp does not carry.
const TS_MSB: u64 = 0xf800_0000_0000_0000;
const MISSED_EVENTS: u64 = 1 << 31;
const MISSED_STORED: u64 = 1 << 30;
const FLAG_MASK: u64 = MISSED_EVENTS | MISSED_STORED;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const IPPROTO_TCP: u16 = 6;

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(super) fn read_uint(b: &[u8], f: Field) -> Option<u64> {
    let s = b.get(f.offset..f.offset + f.size)?;
    Some(match f.size {
        1 => u64::from(s[0]),
        2 => u64::from(u16::from_ne_bytes(s.try_into().ok()?)),
        4 => u64::from(u32::from_ne_bytes(s.try_into().ok()?)),
        8 => u64::from_ne_bytes(s.try_into().ok()?),
        _ => return None,
    })
}

/// Appends the page's TCP state changes to `out`; returns what else it
/// said. Records of other events or protocols are skipped.
pub fn parse_page(
    page: &[u8],
    layout: &PageLayout,
    format: &EventFormat,
    out: &mut Vec<RawChange>,
) -> Result<PageNote, PageError> {
    walk_page(page, layout, |record, ts| {
        out.extend(change(record, format, ts))
    })
}

/// The page's state changes into `changes` and the records that tell
/// their causes into `hints`.
pub fn parse_records(
    page: &[u8],
    layout: &PageLayout,
    formats: (&EventFormat, &HintFormats),
    changes: &mut Vec<RawChange>,
    hints: &mut Vec<RawHint>,
) -> Result<PageNote, PageError> {
    let (format, hint_formats) = formats;
    walk_page(page, layout, |record, ts| {
        match change(record, format, ts) {
            Some(c) => changes.push(c),
            None => hints.extend(hint_formats.hint(record, ts)),
        }
    })
}

/// Calls `each` with every event record of the page and its time.
fn walk_page(
    page: &[u8],
    layout: &PageLayout,
    mut each: impl FnMut(&[u8], u64),
) -> Result<PageNote, PageError> {
    let stamp = page.get(0..8).and_then(|b| <[u8; 8]>::try_from(b).ok());
    let (Some(stamp), true) = (stamp, page.len() >= layout.data_offset) else {
        return Err(PageError::Short(page.len()));
    };
    let mut ts = u64::from_ne_bytes(stamp);
    let commit_field = Field {
        offset: layout.commit_offset,
        size: layout.commit_size,
    };
    let commit = read_uint(page, commit_field).unwrap_or(0);
    let size = (commit & !FLAG_MASK & 0xffff_ffff) as usize;
    let data = &page[layout.data_offset..];
    if size > data.len() {
        return Err(PageError::Overlong {
            claimed: size,
            have: data.len(),
        });
    }
    let mut note = PageNote::default();
    if commit & MISSED_EVENTS != 0 {
        note.lost = 1;
        if commit & MISSED_STORED != 0 {
            let stored = Field {
                offset: size,
                size: layout.commit_size,
            };
            note.lost = read_uint(data, stored).unwrap_or(1).max(1);
        }
    }
    let data = &data[..size];
    let mut at = 0;
    while let Some(header) = read_u32(data, at) {
        let type_len = header & 0x1f;
        let delta = u64::from(header >> 5);
        let array0 = read_u32(data, at + 4);
        let (payload, len) = match type_len {
            TYPE_PADDING if delta == 0 => break, // the rest of the page is empty
            TYPE_PADDING => {
                ts = ts.wrapping_add(delta);
                (None, 4 + array0.unwrap_or(0) as usize)
            }
            TYPE_TIME_EXTEND => {
                ts = ts.wrapping_add((u64::from(array0.unwrap_or(0)) << TS_SHIFT) | delta);
                (None, 8)
            }
            TYPE_TIME_STAMP => {
                let abs = (u64::from(array0.unwrap_or(0)) << TS_SHIFT) | delta;
                ts = abs | (ts & TS_MSB);
                (None, 8)
            }
            0 => {
                ts = ts.wrapping_add(delta);
                let len = array0.unwrap_or(0) as usize;
                (data.get(at + 8..at + 4 + len), 4 + len)
            }
            n => {
                ts = ts.wrapping_add(delta);
                let len = n as usize * 4;
                (data.get(at + 4..at + 4 + len), 4 + len)
            }
        };
        if let Some(record) = payload {
            each(record, ts);
        }
        // Every length is at least 4, so this always moves on.
        at += len;
    }
    Ok(note)
}

/// A TCP state change from one record, if it is one.
fn change(r: &[u8], f: &EventFormat, ns: u64) -> Option<RawChange> {
    let id = Field { offset: 0, size: 2 };
    if read_uint(r, id)? != u64::from(f.id) || read_uint(r, f.protocol)? != u64::from(IPPROTO_TCP) {
        return None;
    }
    let bytes = |field: Field| r.get(field.offset..field.offset + field.size);
    let (src, dst) = match u16::try_from(read_uint(r, f.family)?).ok()? {
        AF_INET => {
            let a: [u8; 4] = bytes(f.saddr)?.try_into().ok()?;
            let b: [u8; 4] = bytes(f.daddr)?.try_into().ok()?;
            (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)))
        }
        AF_INET6 => {
            let a: [u8; 16] = bytes(f.saddr_v6)?.try_into().ok()?;
            let b: [u8; 16] = bytes(f.daddr_v6)?.try_into().ok()?;
            (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => return None,
    };
    Some(RawChange {
        ns,
        sk: read_uint(r, f.skaddr)?,
        old: u8::try_from(read_uint(r, f.oldstate)?).ok()?,
        new: u8::try_from(read_uint(r, f.newstate)?).ok()?,
        src,
        dst,
        sport: u16::try_from(read_uint(r, f.sport)?).ok()?,
        dport: u16::try_from(read_uint(r, f.dport)?).ok()?,
        task: task(r, f),
    })
}

#[cfg(test)]
mod tests;
