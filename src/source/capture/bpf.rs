//! The kernel-side filter for a capture: classic BPF, run on every packet
//! before it is copied to us. Keeps TCP segments to or from one port
//! (IPv4 without fragments, IPv6 without extension headers) and drops the
//! outgoing copy of each packet, so a loopback segment is seen once.
//! Built here because it depends on the port; tested against the real
//! kernel (tests/segments.rs) and for shape below.

/// One instruction: opcode, jump-if-true, jump-if-false, constant (the
/// kernel's `struct sock_filter`).
pub type Instruction = (u16, u8, u8, u32);

const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LDX_B_MSH: u16 = 0xb1;
const ALU_RSH_K: u16 = 0x74;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
/// `SKF_AD_OFF + SKF_AD_PKTTYPE`: the packet's type, not its bytes.
const PKTTYPE: u32 = 0xffff_f000 + 4;
const PACKET_OUTGOING: u32 = 4;
const TCP: u32 = 6;
/// Bytes kept of each packet: all of it.
pub const SNAPLEN: u32 = 262_144;

/// Where a jump goes.
#[derive(Clone, Copy)]
enum To {
    Next,
    V6,
    Accept,
    Drop,
}

enum Op {
    Stmt(u16, u32),
    Jump(u16, u32, To, To),
}

/// The program for `port`, on packets that start at the IP header
/// (AF_PACKET, SOCK_DGRAM).
pub fn tcp_port(port: u16) -> Vec<Instruction> {
    use Op::{Jump, Stmt};
    use To::{Accept, Drop, Next, V6};
    let p = u32::from(port);
    let v4 = [
        Stmt(LD_W_ABS, PKTTYPE),
        Jump(JEQ_K, PACKET_OUTGOING, Drop, Next),
        Stmt(LD_B_ABS, 0),
        Stmt(ALU_RSH_K, 4),
        Jump(JEQ_K, 4, Next, V6),
        Stmt(LD_B_ABS, 9),
        Jump(JEQ_K, TCP, Next, Drop),
        Stmt(LD_H_ABS, 6),
        Jump(JSET_K, 0x1fff, Drop, Next),
        Stmt(LDX_B_MSH, 0),
        Stmt(LD_H_IND, 0),
        Jump(JEQ_K, p, Accept, Next),
        Stmt(LD_H_IND, 2),
        Jump(JEQ_K, p, Accept, Drop),
    ];
    let v6 = [
        // The version is still in A.
        Jump(JEQ_K, 6, Next, Drop),
        Stmt(LD_B_ABS, 6),
        Jump(JEQ_K, TCP, Next, Drop),
        Stmt(LD_H_ABS, 40),
        Jump(JEQ_K, p, Accept, Next),
        Stmt(LD_H_ABS, 42),
        Jump(JEQ_K, p, Accept, Drop),
    ];
    let ends = [Stmt(RET_K, SNAPLEN), Stmt(RET_K, 0)];
    let v6_at = v4.len();
    let accept_at = v6_at + v6.len();
    let ops: Vec<Op> = v4.into_iter().chain(v6).chain(ends).collect();
    let target = |pc: usize, to: To| -> u8 {
        let at = match to {
            To::Next => pc + 1,
            To::V6 => v6_at,
            To::Accept => accept_at,
            To::Drop => accept_at + 1,
        };
        // Forward only, and the program is far shorter than 256 (a jump
        // past its end would be refused by the kernel when attached).
        u8::try_from(at - pc - 1).unwrap_or(u8::MAX)
    };
    ops.iter()
        .enumerate()
        .map(|(pc, op)| match *op {
            Op::Stmt(code, k) => (code, 0, 0, k),
            Op::Jump(code, k, t, f) => (code, target(pc, t), target(pc, f), k),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_inside_and_the_program_ends_in_returns() {
        let prog = tcp_port(8080);
        let n = prog.len();
        for (pc, &(code, jt, jf, _)) in prog.iter().enumerate() {
            if code & 0x07 == 0x05 {
                assert!(pc + 1 + usize::from(jt) < n && pc + 1 + usize::from(jf) < n);
            }
        }
        assert_eq!(prog[n - 2], (RET_K, 0, 0, SNAPLEN));
        assert_eq!(prog[n - 1], (RET_K, 0, 0, 0));
        assert!(prog.iter().any(|i| i.3 == 8080), "the port is in it");
    }
}
