//! INET_DIAG_REQ_BYTECODE programs: a port filter the kernel runs on every
//! socket before copying it, so a dump of one port among 25k sockets copies
//! only that port's sockets.
//!
//! A program is a list of 4-byte ops `{code: u8, yes: u8, no: u16}`; a
//! port comparison is two ops, the second carrying the port in `no`. The
//! kernel walks it: on true it moves `yes` bytes on, on false `no` bytes;
//! landing exactly on the end accepts, jumping past it (by 4) rejects. The
//! kernel's audit only follows the `yes` chain, so it must run straight
//! through the program; "or" is built with a JMP, as `ss` does.

const BC_JMP: u8 = 1;
const BC_S_EQ: u8 = 11;
const BC_D_EQ: u8 = 12;

/// Which end's port to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The local port (`sport` in `ss`).
    Local,
    /// The remote port (`dport`).
    Remote,
}

fn op(code: u8, yes: u8, no: u16) -> [u8; 4] {
    let n = no.to_ne_bytes();
    [code, yes, n[0], n[1]]
}

/// `port == P` on one end: 8 bytes; false jumps 4 past its own end.
fn port_eq(end: End, port: u16) -> Vec<u8> {
    let code = match end {
        End::Local => BC_S_EQ,
        End::Remote => BC_D_EQ,
    };
    let mut out = op(code, 8, 12).to_vec();
    out.extend_from_slice(&op(0, 0, port));
    out
}

/// Sockets whose local or remote port is `port`.
pub fn either_port(port: u16) -> Vec<u8> {
    let first = port_eq(End::Local, port);
    let second = port_eq(End::Remote, port);
    let mut out = first;
    // Reached only when the first test matched: jump over the second.
    out.extend_from_slice(&op(BC_JMP, 4, short_len(second.len() + 4)));
    out.extend_from_slice(&second);
    out
}

/// A jump over a few tests: far below 65,536 bytes (a longer one would
/// not be accepted by the kernel, never silently cut).
fn short_len(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// Sockets with exactly this local and remote port (one connection).
pub fn both_ports(local: u16, remote: u16) -> Vec<u8> {
    let mut first = port_eq(End::Local, local);
    let second = port_eq(End::Remote, remote);
    // A failed first test must reject the whole program: jump past its end.
    let reject = short_len(first.len() + second.len() + 4);
    first[2..4].copy_from_slice(&reject.to_ne_bytes());
    first.extend_from_slice(&second);
    first
}

/// One op at `at`: code, yes-jump, no-jump.
#[cfg(test)]
fn op_at(program: &[u8], at: usize) -> (u8, i64, i64) {
    let no = u16::from_ne_bytes([program[at + 2], program[at + 3]]);
    (program[at], i64::from(program[at + 1]), i64::from(no))
}

/// Runs a program the way the kernel does; for tests of the encoding.
#[cfg(test)]
#[expect(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a test's model of the kernel's walk over a program of a few dozen bytes"
)]
fn run(program: &[u8], local: u16, remote: u16) -> bool {
    let mut at = 0usize;
    let mut len = program.len() as i64;
    while len > 0 {
        let (code, yes, no) = op_at(program, at);
        let port = || u16::from_ne_bytes([program[at + 6], program[at + 7]]);
        let pass = match code {
            BC_S_EQ => local == port(),
            BC_D_EQ => remote == port(),
            BC_JMP => false,
            _ => true,
        };
        let step = if pass { yes } else { no };
        len -= step;
        at += step as usize;
    }
    len == 0
}

/// Checks a program the way the kernel's audit does (yes-chain straight
/// through, every jump aligned and within end + 4).
#[cfg(test)]
#[expect(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a test's model of the kernel's walk over a program of a few dozen bytes"
)]
fn audit(program: &[u8]) -> bool {
    let mut at = 0usize;
    let mut len = program.len() as i64;
    while len > 0 {
        let (code, yes, no) = op_at(program, at);
        let min = if code == BC_S_EQ || code == BC_D_EQ {
            8
        } else {
            4
        };
        if code != 0 && (no < min || no > len + 4 || no % 4 != 0) {
            return false;
        }
        if no < len && !lands_on_op(program, len - no) {
            return false;
        }
        if yes < min || yes > len + 4 || yes % 4 != 0 {
            return false;
        }
        at += yes as usize;
        len -= yes;
    }
    len == 0
}

/// Whether `remaining` bytes before the end is an op boundary on the yes chain.
#[cfg(test)]
#[expect(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a test's model of the kernel's walk over a program of a few dozen bytes"
)]
fn lands_on_op(program: &[u8], remaining: i64) -> bool {
    let mut at = 0usize;
    let mut len = program.len() as i64;
    while len >= 0 {
        if remaining > len {
            return false;
        }
        if remaining == len {
            return true;
        }
        let yes = i64::from(program[at + 1]);
        if yes < 4 || yes % 4 != 0 {
            return false;
        }
        len -= yes;
        at += yes as usize;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_port_matches_local_or_remote() {
        let p = either_port(8080);
        assert_eq!(p.len(), 20);
        assert!(audit(&p));
        assert!(run(&p, 8080, 5000));
        assert!(run(&p, 5000, 8080));
        assert!(run(&p, 8080, 8080));
        assert!(!run(&p, 5000, 5001));
        assert!(!run(&p, 0, 0));
    }

    #[test]
    fn both_ports_needs_both() {
        let p = both_ports(40000, 8080);
        assert_eq!(p.len(), 16);
        assert!(audit(&p));
        assert!(run(&p, 40000, 8080));
        assert!(!run(&p, 40000, 8081));
        assert!(!run(&p, 8080, 40000));
        assert!(!run(&p, 1, 2));
    }

    #[test]
    fn ports_are_stored_in_the_second_op() {
        let p = either_port(0x1234);
        assert_eq!(u16::from_ne_bytes([p[6], p[7]]), 0x1234);
        assert_eq!(p[0], BC_S_EQ);
        assert_eq!(p[8], BC_JMP);
        assert_eq!(p[12], BC_D_EQ);
    }

    #[test]
    fn a_broken_program_fails_the_audit() {
        let mut p = either_port(80);
        p[1] = 16; // yes jumps over the JMP: the audit would not find the second test
        assert!(!audit(&p));
    }
}
