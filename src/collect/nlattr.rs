//! Netlink attributes (`struct nlattr`: u16 length, u16 kind, payload, padded to 4
//! bytes), walked in place: the one walker of the TCP dump's `INET_DIAG_*` and the
//! unix dump's `UNIX_DIAG_*` attributes. The crate's own attribute parser
//! allocates per attribute, which at 100k sockets is measurable; this one borrows.
//!
//! The bytes come from the kernel, but a walk never trusts a length: one shorter
//! than the header or past the end ends the walk (never a panic, never a read out
//! of bounds); what was read before it stands.

/// `sizeof(struct nlattr)`.
const HEADER: usize = 4;
/// `NLA_F_NESTED | NLA_F_NET_BYTEORDER`: flags in the kind's top bits.
const KIND_MASK: u16 = 0x3fff;

/// The attributes of one message, as `(kind, payload)`.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// The attributes in `bytes` (what follows a message's fixed header).
    pub fn new(bytes: &'a [u8]) -> Self {
        Attrs { rest: bytes }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let rest = self.rest;
        let head = rest.get(..HEADER)?;
        let len = usize::from(u16::from_ne_bytes([head[0], head[1]]));
        let kind = u16::from_ne_bytes([head[2], head[3]]) & KIND_MASK;
        let Some(payload) = rest.get(HEADER..len) else {
            // Shorter than its header, or past the end: the walk ends here.
            self.rest = &[];
            return None;
        };
        // The next attribute starts at the 4-byte boundary; the last one's
        // padding may be missing.
        self.rest = rest.get((len + 3) & !3..).unwrap_or_default();
        Some((kind, payload))
    }
}

/// The u32 at byte `at` of an attribute's payload (native byte order), if it is
/// long enough.
pub fn u32_at(payload: &[u8], at: usize) -> Option<u32> {
    let b = payload.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// One attribute of `kind` around `data`, padded to 4 bytes.
    pub fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((data.len() + 4) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(data);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    fn walk(bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
        Attrs::new(bytes).map(|(k, p)| (k, p.to_vec())).collect()
    }

    #[test]
    fn attributes_come_in_order_with_their_padding_skipped() {
        let bytes = [attr(8, &[1]), attr(2, &[1, 2, 3, 4, 5]), attr(7, &[])].concat();
        assert_eq!(
            walk(&bytes),
            vec![(8, vec![1]), (2, vec![1, 2, 3, 4, 5]), (7, vec![])]
        );
        // The flag bits of the kind are not part of it.
        let nested = attr(0x8000 | 4, &[9, 9, 9, 9]);
        assert_eq!(walk(&nested), vec![(4, vec![9; 4])]);
        // The last attribute's padding may be cut off.
        let mut unpadded = attr(1, &[5]);
        unpadded.truncate(5);
        assert_eq!(walk(&unpadded), vec![(1, vec![5])]);
    }

    #[test]
    fn malformed_lengths_end_the_walk_and_keep_what_came_before() {
        let good = attr(1, &[1, 2, 3, 4]);
        // A length past the end (oversized).
        let mut oversized = attr(2, &[0; 8]);
        oversized[0] = 0xff;
        assert_eq!(
            walk(&[good.clone(), oversized.clone()].concat()),
            vec![(1, vec![1, 2, 3, 4])]
        );
        assert_eq!(walk(&oversized), vec![]);
        // A length shorter than the header itself (0 would loop forever).
        for len in 0u16..4 {
            let mut short = attr(3, &[0; 4]);
            short[..2].copy_from_slice(&len.to_ne_bytes());
            assert_eq!(walk(&[good.clone(), short].concat()).len(), 1, "{len}");
        }
        // Truncated: a header cut short, or a payload cut short.
        assert_eq!(walk(&good[..3]), vec![]);
        assert_eq!(walk(&good[..6]), vec![]);
        assert_eq!(walk(&[]), vec![]);
        // Once ended, it stays ended.
        let mut it = Attrs::new(&oversized);
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn every_cut_and_byte_flip_is_walked_without_a_panic() {
        let bytes = [attr(8, &[1]), attr(2, &[7; 104]), attr(7, &[1, 2])].concat();
        for cut in 0..bytes.len() {
            let _ = Attrs::new(&bytes[..cut]).count();
        }
        for i in 0..bytes.len() {
            for v in [0u8, 1, 3, 4, 5, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                for (_, p) in Attrs::new(&b) {
                    assert!(p.len() <= b.len());
                }
            }
        }
    }

    #[test]
    fn u32s_are_read_only_when_whole() {
        let p = [1u32.to_ne_bytes(), 2u32.to_ne_bytes()].concat();
        assert_eq!((u32_at(&p, 0), u32_at(&p, 4)), (Some(1), Some(2)));
        assert_eq!(u32_at(&p, 5), None);
        assert_eq!(u32_at(&p, usize::MAX), None);
    }
}
