//! What each TCP state means, in plain words, and what moves a connection
//! from one state to another (the arrows of RFC 9293's state diagram).

use super::state::TcpState;

/// Two or three sentences: what the state means, which side is in it, what
/// leads in and out, and what many sockets lingering there usually means.
pub fn meaning(state: TcpState) -> &'static str {
    match state {
        TcpState::Listen => {
            "A server socket after listen(): it owns the port and waits for SYNs. It never carries \
             data itself; every accept() hands out a new connected socket. On this row Recv-Q is the \
             accept queue and Send-Q the backlog: a full queue means the application accepts too slowly."
        }
        TcpState::SynSent => {
            "The client called connect() and sent a SYN; it waits for the SYN,ACK. Many sockets stuck \
             here mean the peer does not answer: nothing listens and a firewall drops the SYN, or the \
             server's accept queue is full and its kernel drops new SYNs."
        }
        TcpState::SynRecv => {
            "The server's kernel answered a SYN with SYN,ACK and waits for the final ACK of the \
             three-way handshake; no accept() is involved yet. Many of them at once point to a SYN \
             flood, or to clients that cannot complete the handshake."
        }
        TcpState::Established => {
            "The handshake is done and data flows both ways: send() and recv() work on both ends. \
             A connection stays here until one side calls close() or shutdown(SHUT_WR)."
        }
        TcpState::FinWait1 => {
            "This side closed first (close() or shutdown(SHUT_WR)) and sent its FIN, which the peer \
             has not acknowledged yet. It lasts a round trip, or longer when the FIN waits behind \
             unsent data because the peer stopped reading."
        }
        TcpState::FinWait2 => {
            "Our FIN was acknowledged; we wait for the peer's FIN. The peer's application has not \
             closed its end yet (it sits in CLOSE_WAIT) and may still send data, which we still \
             receive. Lasts as long as the peer keeps its end open (an orphaned socket only 60 s on Linux)."
        }
        TcpState::CloseWait => {
            "The peer closed (its FIN arrived, recv() returned 0) and the kernel waits for this \
             application to call close(). Only the application can end it: CLOSE_WAIT sockets piling \
             up are a leak, code that never closes what the other side has finished with."
        }
        TcpState::Closing => {
            "Both sides sent a FIN at the same moment (a simultaneous close): each has received the \
             other's FIN but not yet the ACK of its own. Rare; it normally lasts one round trip."
        }
        TcpState::LastAck => {
            "This side closed after the peer did (CLOSE_WAIT, then close()) and sent its own FIN. It \
             waits for the final ACK, then the socket is gone without any TIME_WAIT."
        }
        TcpState::TimeWait => {
            "The side that closed first keeps the 4-tuple for 2·MSL (60 s on Linux) so late packets \
             of this connection cannot corrupt a new one with the same addresses. Harmless, but many \
             of them on a server's port are why a restarted server fails to bind without SO_REUSEADDR."
        }
        TcpState::Closed => {
            "No connection. The socket exists but has not been connected or listened on yet, or it \
             is fully closed and about to be freed."
        }
    }
}

/// The event / action on an arrow of the state diagram, as RFC 9293 labels
/// it; `None` when the diagram has no such arrow.
pub fn transition(from: TcpState, to: TcpState) -> Option<&'static str> {
    use TcpState::*;
    let label = match (from, to) {
        (Closed, Listen) => "passive open",
        (Closed, SynSent) => "active open / snd SYN",
        (Listen, SynRecv) => "rcv SYN / snd SYN,ACK",
        (Listen, SynSent) => "send / snd SYN",
        (Listen, Closed) => "close",
        (SynSent, SynRecv) => "rcv SYN / snd SYN,ACK",
        (SynSent, Established) => "rcv SYN,ACK / snd ACK",
        (SynSent, Closed) => "close",
        (SynRecv, Established) => "rcv ACK of SYN",
        (SynRecv, FinWait1) => "close / snd FIN",
        (Established, FinWait1) => "close / snd FIN",
        (Established, CloseWait) => "rcv FIN / snd ACK",
        (FinWait1, FinWait2) => "rcv ACK of FIN",
        (FinWait1, Closing) => "rcv FIN / snd ACK",
        (FinWait1, TimeWait) => "rcv FIN,ACK / snd ACK",
        (FinWait2, TimeWait) => "rcv FIN / snd ACK",
        (Closing, TimeWait) => "rcv ACK of FIN",
        (CloseWait, LastAck) => "close / snd FIN",
        (LastAck, Closed) => "rcv ACK of FIN",
        (TimeWait, Closed) => "timeout=2MSL",
        _ => return None,
    };
    Some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_is_explained_in_a_few_sentences() {
        for s in TcpState::ALL {
            let text = meaning(s);
            let sentences = text.matches(". ").count() + 1;
            assert!((2..=4).contains(&sentences), "{s}: {sentences} sentences");
        }
    }

    #[test]
    fn the_usual_paths_are_all_arrows() {
        use TcpState::*;
        let client = [
            Closed,
            SynSent,
            Established,
            FinWait1,
            FinWait2,
            TimeWait,
            Closed,
        ];
        let server = [
            Closed,
            Listen,
            SynRecv,
            Established,
            CloseWait,
            LastAck,
            Closed,
        ];
        for path in [client, server] {
            for w in path.windows(2) {
                assert!(transition(w[0], w[1]).is_some(), "{} -> {}", w[0], w[1]);
            }
        }
        assert_eq!(transition(TimeWait, Closed), Some("timeout=2MSL"));
        assert_eq!(transition(Established, Listen), None);
    }
}
