//! The TCP state diagram (after RFC 9293, Figure 5) drawn with box
//! characters: the art, and a mask of the same shape naming which arrow
//! (a letter) each cell belongs to, so an arrow can be lit.

/// The drawing, one string per row. Generated once by hand-placed
/// coordinates; edit both constants together.
pub const ART: &[&str] = &[
    "                                         [ CLOSED ]",
    "                  passive open ┌───────────┘      └───────────┐ active open",
    "                               ▼                              ▼ / snd SYN",
    "                          [ LISTEN ]── send / snd SYN ────►[ SYN_SENT ]",
    "        rcv SYN / snd SYN,ACK  │                              │   │ rcv SYN,ACK",
    "                               ▼       rcv SYN / snd SYN,ACK  │   │ / snd ACK",
    "                         [ SYN_RECV ]◄────────────────────────┘   │",
    "              rcv ACK of SYN  │   │ close / snd FIN               │",
    "                              ▼   └──────────┐                    │",
    "                      [ ESTABLISHED ]◄───────┼────────────────────┘",
    "        close / snd FIN │       │            │ rcv FIN / snd ACK",
    "                        │       └────────────┼──────────┐",
    "                        ▼                    │          ▼",
    "                 [ FIN_WAIT_1 ]◄─────────────┘    [ CLOSE_WAIT ]",
    "    rcv ACK of FIN │         │ rcv FIN / snd ACK        │ close / snd FIN",
    "                   ▼         ▼                          ▼",
    "           [ FIN_WAIT_2 ]  [ CLOSING ]            [ LAST_ACK ]",
    "rcv FIN / snd ACK  │         │ rcv ACK of FIN           │ rcv ACK of FIN",
    "                   ▼         ▼                          ▼",
    "                  [ TIME_WAIT ]──── timeout=2MSL ────►[ CLOSED ]",
];

/// Same shape as [`ART`]: a letter marks a cell of that arrow, `.` none.
pub const MASK: &[&str] = &[
    "...................................................",
    "..................aaaaaaaaaaaa.aaaaaaaaaaaaa......bbbbbbbbbbbbb.bbbbbbbbbbb",
    "...............................a..............................b.bbbbbbbbb",
    "....................................ccccccccccccccccccccccc............",
    "........ddddddddddddddddddddd..d..............................e...f.fffffffffff",
    "...............................d.......eeeeeeeeeeeeeeeeeeeee..e...f.fffffffff",
    ".....................................eeeeeeeeeeeeeeeeeeeeeeeeee...f",
    "..............gggggggggggggg..g...h.hhhhhhhhhhhhhhh...............f",
    "..............................g...hhhhhhhhhhhh....................f",
    ".....................................ffffffffhfffffffffffffffffffff",
    "........iiiiiiiiiiiiiii.i.......j............h.jjjjjjjjjjjjjjjjj",
    "........................i.......jjjjjjjjjjjjjhjjjjjjjjjjj",
    "........................i....................h..........j",
    "...............................hhhhhhhhhhhhhhh..................",
    "....kkkkkkkkkkkkkk.k.........l.lllllllllllllllll........m.mmmmmmmmmmmmmmm",
    "...................k.........l..........................m",
    "..............................................................",
    "nnnnnnnnnnnnnnnnn..n.........o.oooooooooooooo...........p.pppppppppppppp",
    "...................n.........o..........................p",
    "...............................qqqqqqqqqqqqqqqqqqqqqqq..........",
];
