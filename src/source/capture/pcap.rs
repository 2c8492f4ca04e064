//! Captured packets as a pcap file (the classic format every reader
//! opens: tcpdump -r, Wireshark). The packets start at the IP header, so
//! the link type is LINKTYPE_RAW. Written by hand: a 24-byte file header
//! and a 16-byte header per packet.

use super::bpf::SNAPLEN;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const MAGIC_MICROSECONDS: u32 = 0xa1b2_c3d4;
const LINKTYPE_RAW: u32 = 101;

pub struct PcapWriter<W: Write> {
    out: W,
}

impl PcapWriter<BufWriter<File>> {
    pub fn create(path: &Path) -> io::Result<Self> {
        PcapWriter::new(BufWriter::new(crate::source::files::create_for_user(path)?))
    }
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&MAGIC_MICROSECONDS.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?; // time zone: UTC
        out.write_all(&0u32.to_le_bytes())?; // accuracy
        out.write_all(&SNAPLEN.to_le_bytes())?;
        out.write_all(&LINKTYPE_RAW.to_le_bytes())?;
        Ok(PcapWriter { out })
    }

    /// One packet, captured at `at`.
    pub fn packet(&mut self, at: SystemTime, packet: &[u8]) -> io::Result<()> {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        self.out.write_all(
            &u32::try_from(since.as_secs())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        )?;
        self.out.write_all(&since.subsec_micros().to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(packet)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn file_and_packet_headers_are_little_endian_classic_pcap() {
        let mut buf = Vec::new();
        let mut w = PcapWriter::new(&mut buf).expect("header");
        let at = UNIX_EPOCH + Duration::from_micros(1_500_000_250);
        w.packet(at, &[0x45, 0, 0, 20]).expect("packet");
        assert_eq!(buf.len(), 24 + 16 + 4);
        assert_eq!(&buf[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(
            u32::from_le_bytes([buf[20], buf[21], buf[22], buf[23]]),
            101
        );
        assert_eq!(
            u32::from_le_bytes([buf[24], buf[25], buf[26], buf[27]]),
            1500
        );
        assert_eq!(
            u32::from_le_bytes([buf[28], buf[29], buf[30], buf[31]]),
            250
        );
        assert_eq!(u32::from_le_bytes([buf[32], buf[33], buf[34], buf[35]]), 4);
    }
}
