//! One table from several network namespaces: this one and the lab's
//! (`lab --wire`), each read by a source opened inside it. Every row says
//! which namespace it came from, so the two ends of a connection that
//! crosses the lab's link are told apart.

use super::{Degradation, Dump, Scope, SocketSource, SourceError, Wanted};
use crate::socket::{SocketKey, SocketRow, TcpDetails};

/// A source and the namespace it reads (`None`: this process's own).
pub struct Member {
    pub netns: Option<&'static str>,
    pub source: Box<dyn SocketSource>,
}

pub struct Namespaced {
    members: Vec<Member>,
    /// Rows of different namespaces get different keys even on the same
    /// addresses (containers all have their own 127.0.0.1).
    apart: bool,
}

impl Namespaced {
    pub fn new(members: Vec<Member>) -> Self {
        Namespaced {
            members,
            apart: false,
        }
    }

    /// Keys told apart by namespace: for namespaces that may repeat each
    /// other's addresses (not the lab's link, whose ends never do).
    pub fn kept_apart(mut self) -> Self {
        self.apart = true;
        self
    }
}

impl SocketSource for Namespaced {
    fn name(&self) -> &'static str {
        self.members.first().map_or("none", |m| m.source.name())
    }

    fn dump(&mut self, scope: &Scope) -> Result<Dump, SourceError> {
        let mut whole: Option<Dump> = None;
        for (i, m) in self.members.iter_mut().enumerate() {
            let mut part = m.source.dump(scope)?;
            for row in &mut part.rows {
                row.netns = m.netns;
                if self.apart && i > 0 {
                    // Above any inode or cookie sock_diag hands out.
                    row.key.instance |= (i as u64) << 56;
                }
            }
            if m.netns.is_some() {
                // A fresh namespace has no sockets yet: nothing to warn of.
                part.warning = None;
            }
            whole = Some(match whole {
                None => part,
                Some(mut w) => {
                    w.rows.append(&mut part.rows);
                    w.finished = w.finished.max(part.finished);
                    w.warning = w.warning.or(part.warning);
                    w
                }
            });
        }
        whole.ok_or_else(|| SourceError::Unavailable("no namespace to read".into()))
    }

    fn degradations(&self) -> Vec<Degradation> {
        self.members
            .first()
            .map(|m| m.source.degradations())
            .unwrap_or_default()
    }

    /// Each namespace has counters of its own; this process reads only its
    /// own, so it cannot tell whether the others changed.
    fn may_have_changed(&mut self) -> bool {
        true
    }

    fn details(&mut self, key: &SocketKey) -> Result<Option<TcpDetails>, SourceError> {
        for m in &mut self.members {
            if let Some(d) = m.source.details(key)? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    fn has_details(&self) -> bool {
        self.members.iter().all(|m| m.source.has_details())
    }

    /// Asks every namespace; a socket is in at most one of them.
    fn look_up(&mut self, wanted: &[Wanted]) -> Result<Vec<Option<SocketRow>>, SourceError> {
        let mut found: Vec<Option<SocketRow>> = vec![None; wanted.len()];
        for m in &mut self.members {
            let answers = m.source.look_up(wanted)?;
            for (slot, answer) in found.iter_mut().zip(answers) {
                if slot.is_none()
                    && let Some(mut row) = answer
                {
                    row.netns = m.netns;
                    *slot = Some(row);
                }
            }
        }
        Ok(found)
    }

    /// Keys kept apart carry the namespace, which the kernel's answers
    /// do not: such tables are read whole.
    fn can_look_up(&self) -> bool {
        !self.apart && self.members.iter().all(|m| m.source.can_look_up())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Family, TcpState};
    use crate::source::ScriptedSource;

    fn row(local: &str, remote: &str) -> SocketRow {
        let key = SocketKey::new(
            Family::Inet,
            local.parse().expect("addr"),
            remote.parse().expect("addr"),
        );
        SocketRow::new(key, TcpState::Established)
    }

    #[test]
    fn rows_from_each_namespace_carry_its_name() {
        let client = row("198.18.0.1:40000", "198.18.0.2:80");
        let server = row("198.18.0.2:80", "198.18.0.1:40000");
        let members = vec![
            Member {
                netns: None,
                source: Box::new(ScriptedSource::new(vec![Dump::new(vec![])])),
            },
            Member {
                netns: Some("client"),
                source: Box::new(ScriptedSource::new(vec![Dump::new(vec![client])])),
            },
            Member {
                netns: Some("server"),
                source: Box::new(ScriptedSource::new(vec![Dump::new(vec![server])])),
            },
        ];
        let dump = Namespaced::new(members)
            .dump(&Scope::default())
            .expect("a reading");
        let tags: Vec<(u16, Option<&str>)> = dump
            .rows
            .iter()
            .map(|r| (r.key.local.port(), r.netns))
            .collect();
        assert_eq!(tags, [(40000, Some("client")), (80, Some("server"))]);
    }
}
