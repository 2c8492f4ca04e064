//! Records of other events that tell why a state changed: a RST received
//! or sent (with the kernel's reason), a retransmission, a shutdown(2) in
//! progress, a task exiting, a thread starting (so that a thread gone
//! before /proc could be asked is still known by its process). Each layout is read from its own `format`
//! file; an event this kernel lacks is simply not read.

use super::{Field, FormatError, field_line, read_uint, task_of};

/// A record that tells a cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawHint {
    pub ns: u64,
    pub what: Hint,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    /// `tcp:tcp_receive_reset`: a RST arrived for this socket.
    ResetReceived { sk: u64 },
    /// `tcp:tcp_send_reset`: this socket sent a RST, for this reason
    /// (the kernel's `sk_rst_reason` word, e.g. `TCP_ABORT_ON_CLOSE`).
    ResetSent { sk: u64, reason: String },
    /// `tcp:tcp_retransmit_skb`: the socket's timer resent a segment.
    Retransmit { sk: u64 },
    /// `syscalls:sys_enter_shutdown` that ends the writing side.
    ShutdownEnter { tid: u32 },
    /// `syscalls:sys_exit_shutdown`.
    ShutdownExit { tid: u32 },
    /// `sched:sched_process_exit`: the task is exiting; what it still
    /// holds is closed by its exit. `comm`: its name, for a process gone
    /// before /proc could be asked.
    Exit { tid: u32, comm: String },
    /// `task:task_newtask` of a thread (`CLONE_THREAD`): `tid` belongs
    /// to the process of `creator`, the task that started it.
    NewThread { tid: u32, creator: u32 },
}

/// Which hint an event's records give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HintEvent {
    ResetReceived,
    ResetSent,
    Retransmit,
    ShutdownEnter,
    ShutdownExit,
    Exit,
    NewThread,
}

/// `clone(2)`'s flag for a thread of the caller's process.
const CLONE_THREAD: u64 = 0x10000;

impl HintEvent {
    pub const ALL: [HintEvent; 7] = [
        HintEvent::ResetReceived,
        HintEvent::ResetSent,
        HintEvent::Retransmit,
        HintEvent::ShutdownEnter,
        HintEvent::ShutdownExit,
        HintEvent::Exit,
        HintEvent::NewThread,
    ];

    /// Its directory under `events/`.
    pub fn path(self) -> &'static str {
        match self {
            HintEvent::ResetReceived => "events/tcp/tcp_receive_reset",
            HintEvent::ResetSent => "events/tcp/tcp_send_reset",
            HintEvent::Retransmit => "events/tcp/tcp_retransmit_skb",
            HintEvent::ShutdownEnter => "events/syscalls/sys_enter_shutdown",
            HintEvent::ShutdownExit => "events/syscalls/sys_exit_shutdown",
            HintEvent::Exit => "events/sched/sched_process_exit",
            HintEvent::NewThread => "events/task/task_newtask",
        }
    }

    /// The kernel-side filter its records need, whatever the port.
    pub fn own_filter(self) -> Option<String> {
        match self {
            HintEvent::NewThread => Some(format!("clone_flags & {CLONE_THREAD}")),
            _ => None,
        }
    }

    /// Whether its records have `sport` and `dport`, so the watched
    /// port's filter applies to them too.
    pub fn has_ports(self) -> bool {
        matches!(self, HintEvent::ResetReceived | HintEvent::Retransmit)
    }
}

/// One hint event's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Layout {
    event: HintEvent,
    id: u16,
    flags: Option<Field>,
    pid: Option<Field>,
    sk: Option<Field>,
    reason: Option<Field>,
    how: Option<Field>,
    comm: Option<Field>,
    /// `task_newtask`'s new task and its clone flags.
    child: Option<Field>,
    clone_flags: Option<Field>,
    /// `sk_rst_reason` numbers and their words, from the print format.
    reasons: Vec<(u64, String)>,
}

/// The layouts of the hint events this kernel has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HintFormats {
    layouts: Vec<Layout>,
}

/// `SHUT_RD`: ends only reading, which moves no state.
const SHUT_RD: u64 = 0;

impl HintFormats {
    /// Adds `event` from its `format` file.
    pub fn add(&mut self, event: HintEvent, text: &str) -> Result<(), FormatError> {
        let id = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("ID:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| FormatError(format!("{} has no event ID", event.path())))?;
        let mut layout = Layout {
            event,
            id,
            flags: None,
            pid: None,
            sk: None,
            reason: None,
            how: None,
            comm: None,
            child: None,
            clone_flags: None,
            reasons: reason_words(text),
        };
        for (name, field) in text.lines().filter_map(field_line) {
            match name {
                "common_flags" => layout.flags = Some(field),
                "common_pid" => layout.pid = Some(field),
                "skaddr" => layout.sk = Some(field),
                "reason" => layout.reason = Some(field),
                "how" => layout.how = Some(field),
                "comm" => layout.comm = Some(field),
                "pid" => layout.child = Some(field),
                "clone_flags" => layout.clone_flags = Some(field),
                _ => {}
            }
        }
        let needs_sk = matches!(
            event,
            HintEvent::ResetReceived | HintEvent::ResetSent | HintEvent::Retransmit
        );
        let needs_child = event == HintEvent::NewThread;
        let child_missing = layout.child.is_none() || layout.clone_flags.is_none();
        if (needs_sk && layout.sk.is_none())
            || layout.pid.is_none()
            || (needs_child && child_missing)
        {
            return Err(FormatError(format!("{} lacks fields", event.path())));
        }
        self.layouts.push(layout);
        Ok(())
    }

    pub fn has(&self, event: HintEvent) -> bool {
        self.layouts.iter().any(|l| l.event == event)
    }

    /// The hint in one record, if it is one of these events.
    pub fn hint(&self, r: &[u8], ns: u64) -> Option<RawHint> {
        let id = read_uint(r, Field { offset: 0, size: 2 })?;
        let l = self.layouts.iter().find(|l| u64::from(l.id) == id)?;
        let sk = || l.sk.and_then(|f| read_uint(r, f)).filter(|&sk| sk != 0);
        // The task running: a system call's or an exit's own.
        let tid = || {
            u32::try_from(read_uint(r, l.pid?)?)
                .ok()
                .filter(|&t| t != 0)
        };
        let what = match l.event {
            HintEvent::ResetReceived => Hint::ResetReceived { sk: sk()? },
            HintEvent::ResetSent => {
                let n = read_uint(r, l.reason?)?;
                let reason = l.reasons.iter().find(|(k, _)| *k == n)?.1.clone();
                Hint::ResetSent { sk: sk()?, reason }
            }
            HintEvent::Retransmit => Hint::Retransmit { sk: sk()? },
            HintEvent::ShutdownEnter => {
                if l.how.and_then(|f| read_uint(r, f)) == Some(SHUT_RD) {
                    return None;
                }
                task_of(r, l.flags, l.pid)?;
                Hint::ShutdownEnter { tid: tid()? }
            }
            HintEvent::ShutdownExit => Hint::ShutdownExit { tid: tid()? },
            HintEvent::Exit => Hint::Exit {
                tid: tid()?,
                comm: l.comm.map(|f| comm(r, f)).unwrap_or_default(),
            },
            HintEvent::NewThread => {
                let flags = read_uint(r, l.clone_flags?)?;
                if flags & CLONE_THREAD == 0 {
                    return None;
                }
                let child = u32::try_from(read_uint(r, l.child?)?).ok()?;
                Hint::NewThread {
                    tid: child,
                    creator: tid()?,
                }
            }
        };
        Some(RawHint { ns, what })
    }
}

/// A `char[16]` name: up to its first NUL.
fn comm(r: &[u8], f: Field) -> String {
    let bytes = r.get(f.offset..f.offset + f.size).unwrap_or_default();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `__print_symbolic(REC->reason, { 0, "NOT_SPECIFIED" }, …)` → pairs.
fn reason_words(text: &str) -> Vec<(u64, String)> {
    let Some(at) = text.find("__print_symbolic(REC->reason") else {
        return Vec::new();
    };
    let rest = &text[at..];
    let end = rest.find(')').unwrap_or(rest.len());
    rest[..end]
        .split('{')
        .skip(1)
        .filter_map(|pair| {
            let (n, word) = pair.split_once(',')?;
            let word = word.split('"').nth(1)?;
            Some((n.trim().parse().ok()?, word.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND_RESET: &str = r#"name: tcp_send_reset
ID: 2280
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:const void * skbaddr;	offset:8;	size:8;	signed:0;
	field:const void * skaddr;	offset:16;	size:8;	signed:0;
	field:int state;	offset:24;	size:4;	signed:1;
	field:enum sk_rst_reason reason;	offset:28;	size:4;	signed:0;

print fmt: "skaddr=%p reason=%s", REC->skaddr, __print_symbolic(REC->reason, { 0, "NOT_SPECIFIED" }, { 11, "TCP_ABORT_ON_CLOSE" }, { 14, "TCP_STATE" })
"#;

    fn record(pid: u32, sk: u64, reason: u32) -> Vec<u8> {
        let mut r = vec![0u8; 32];
        r[0..2].copy_from_slice(&2280u16.to_ne_bytes());
        r[4..8].copy_from_slice(&pid.to_ne_bytes());
        r[16..24].copy_from_slice(&sk.to_ne_bytes());
        r[28..32].copy_from_slice(&reason.to_ne_bytes());
        r
    }

    #[test]
    fn a_sent_reset_reads_with_the_kernels_word_for_its_reason() {
        let mut f = HintFormats::default();
        f.add(HintEvent::ResetSent, SEND_RESET).expect("format");
        let hint = f.hint(&record(42, 0xffff_8880_1234_5678, 11), 7);
        let want = Hint::ResetSent {
            sk: 0xffff_8880_1234_5678,
            reason: "TCP_ABORT_ON_CLOSE".into(),
        };
        assert_eq!(hint, Some(RawHint { ns: 7, what: want }));
        // A reset for no socket (a reply to a stray segment) tells nothing.
        assert_eq!(f.hint(&record(42, 0, 11), 7), None);
        // Another event's record.
        let mut other = record(42, 1, 11);
        other[0] = 1;
        assert_eq!(f.hint(&other, 7), None);
    }

    const NEW_TASK: &str = r#"name: task_newtask
ID: 205
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:pid_t pid;	offset:8;	size:4;	signed:1;
	field:char comm[16];	offset:12;	size:16;	signed:0;
	field:u64 clone_flags;	offset:32;	size:8;	signed:0;
	field:short oom_score_adj;	offset:40;	size:2;	signed:1;

print fmt: "pid=%d comm=%s clone_flags=%llx", REC->pid, REC->comm, REC->clone_flags
"#;

    #[test]
    fn a_new_thread_is_its_creators_and_a_new_process_is_not_a_thread() {
        let mut f = HintFormats::default();
        f.add(HintEvent::NewThread, NEW_TASK).expect("format");
        let task = |flags: u64| {
            let mut r = vec![0u8; 48];
            r[0..2].copy_from_slice(&205u16.to_ne_bytes());
            r[4..8].copy_from_slice(&100u32.to_ne_bytes());
            r[8..12].copy_from_slice(&101u32.to_ne_bytes());
            r[32..40].copy_from_slice(&flags.to_ne_bytes());
            r
        };
        let thread = Hint::NewThread {
            tid: 101,
            creator: 100,
        };
        let h = f.hint(&task(0x3d0f00), 9);
        assert_eq!(
            h,
            Some(RawHint {
                ns: 9,
                what: thread
            })
        );
        assert_eq!(f.hint(&task(0x11), 9), None, "fork: a process of its own");
    }

    #[test]
    fn a_format_without_its_fields_is_refused() {
        let mut f = HintFormats::default();
        let broken = SEND_RESET.replace("skaddr", "other");
        assert!(f.add(HintEvent::ResetSent, &broken).is_err());
        assert!(!f.has(HintEvent::ResetSent));
    }
}
